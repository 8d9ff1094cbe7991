# Copyright (c) mmbrain contributors. All rights reserved.
"""mmdet's own ``tools/train.py`` (found as the pipeline finds it: ``<mmdet>/.mim/tools/train.py``) trains an mmbrain
detection config with two CPU processes under torchrun: the config's ``runner_type``, ``mmbrain.BrainRunner``,
starts gloo and wraps the model for the CPU. With mmengine's Runner the same command fails (NCCL, ``device_ids``)."""

import importlib.util
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import sys

import pytest
from _helpers import REPO

from mmbrain.utils import load_checkpoint_safely

CONFIG = osp.join(REPO, 'configs/det/mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py')


def _mmdet_train_tool() -> str:
    spec = importlib.util.find_spec('mmdet')
    return osp.join(list(spec.submodule_search_locations)[0], '.mim', 'tools', 'train.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _two_process_command(nsd_world, backbone_checkpoints, work_dir, max_epochs=1):
    """torchrun, two processes, mmdet's own tools/train.py on the tiny det config (4 images, batch 1)."""
    coco = nsd_world.coco_dir + '/'
    val = f'{coco}annotations/instances_val2017.json'
    cmd = [
        sys.executable,
        '-m',
        'torch.distributed.run',
        '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        _mmdet_train_tool(),
        CONFIG,
        '--launcher',
        'pytorch',
        '--work-dir',
        str(work_dir),
        '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={backbone_checkpoints["convnext"]}',
        f'train_dataloader.dataset.data_root={coco}',
        'train_dataloader.dataset.ann_file=annotations/instances_train2017.json',
        'train_dataloader.dataset.indices=4',
        'train_dataloader.batch_size=1',
        f'val_dataloader.dataset.data_root={coco}',
        f'val_evaluator.0.ann_file={val}',
        f'val_evaluator.1.ann_file={val}',
        f'train_cfg.max_epochs={max_epochs}',
        'default_hooks.logger.interval=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=f'{REPO}{os.pathsep}' + os.environ.get('PYTHONPATH', ''))
    return cmd, env


@pytest.mark.slow
def test_mmdet_train_tool_runs_two_gloo_processes(nsd_world, backbone_checkpoints, tmp_path):
    work_dir = tmp_path / 'work'
    cmd, env = _two_process_command(nsd_world, backbone_checkpoints, work_dir)
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log, log[-3000:]
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'pretrained weights checked' in log  # BrainRunner built by mmdet's tool from runner_type
    # 4 images, 2 processes of batch 1: 2 iterations of one epoch, one checkpoint, written by rank 0
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', log), log[-3000:]
    ckpt = load_checkpoint_safely(str(work_dir / 'epoch_1.pth'))
    assert ckpt['meta']['iter'] == 2 and not any(k.startswith('module.') for k in ckpt['state_dict'])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc and PR_SET_PDEATHSIG')
def test_mmdet_ranks_end_with_their_torchrun_agent(nsd_world, backbone_checkpoints, tmp_path):
    """torchrun starts each rank in a session of its own: BrainRunner asks the kernel to end a rank with its agent,
    so killing the agent (SIGKILL) leaves no rank of mmdet's tool training on."""
    from test_pipeline._processes import processes_naming, training_ranks, wait_for

    work_dir = tmp_path / 'work'
    cmd, env = _two_process_command(nsd_world, backbone_checkpoints, work_dir, max_epochs=50)

    def ranks():
        return training_ranks(str(work_dir))

    log_path = tmp_path / 'torchrun.log'
    with open(log_path, 'w') as log:
        agent = subprocess.Popen(cmd, cwd=str(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: 'Epoch(train)' in log_path.read_text() or agent.poll() is not None, 300)
        assert agent.poll() is None and len(ranks()) == 2, log_path.read_text()[-3000:]
        agent.kill()
        agent.wait(30)
        assert wait_for(lambda: not ranks(), 30), 'ranks left training after their agent died'
    finally:
        agent.kill()
        for pid in processes_naming(str(work_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

# Copyright (c) mmbrain contributors. All rights reserved.
"""A tiny Brainformer pretraining on the synthetic NSD world, killed mid-run, resumes from its checkpoint."""

import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmbrain.utils.checkpoint import load_checkpoint_safely
from test_tools.test_dist_train import HANG_SECONDS

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'
BATCH, TRAIN_ROWS = 8, 32  # 4 iterations per epoch


def _last_epoch(work_dir: Path) -> int:
    """The epoch of the checkpoint ``last_checkpoint`` names (0 while there is none, or it is being written)."""
    try:
        match = re.search(r'epoch_(\d+)\.pth$', (work_dir / 'last_checkpoint').read_text().strip())
    except FileNotFoundError:
        return 0
    return int(match.group(1)) if match else 0


def _write_config(path: Path, world) -> None:
    loader = dict(batch_size=BATCH, num_workers=0, persistent_workers=False)
    data = f'dict(data_root={world.converted_dir!r}, stimuli_file={world.stimuli_file!r}, subjects={world.subjects!r}'
    path.write_text(
        f'_base_ = {str(TINY_CONFIG)!r}\n'
        f'train_dataloader = dict(**{loader!r}, dataset={data}, indices={TRAIN_ROWS}))\n'
        f'val_dataloader = dict(**{loader!r}, dataset={data}, indices=16))\n'
        'test_dataloader = val_dataloader\n'
        'train_cfg = dict(max_epochs=40, val_interval=2)\n'
        'default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1, max_keep_ckpts=3))\n'
    )


def _train(config: Path, work_dir: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=f'{REPO}{os.pathsep}' + os.environ.get('PYTHONPATH', ''))
    return subprocess.Popen(
        [sys.executable, str(REPO / 'tools/train.py'), str(config), '--work-dir', str(work_dir), *extra],
        cwd=str(work_dir.parent),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_killed_pretraining_resumes(nsd_world, tmp_path):
    config, work_dir = tmp_path / 'tiny.py', tmp_path / 'work'
    work_dir.mkdir()
    _write_config(config, nsd_world)

    run = _train(config, work_dir)
    deadline = time.time() + HANG_SECONDS
    # mmengine writes last_checkpoint after the checkpoint itself: kill once it names epoch 2 or later (a kill
    # between epoch_2.pth and that line would leave last_checkpoint at epoch 1)
    while _last_epoch(work_dir) < 2:
        assert run.poll() is None, f'training died:\n{run.stdout.read()[-4000:]}'
        if time.time() > deadline:
            run.kill()
            pytest.fail(f'no second checkpoint within {HANG_SECONDS} s:\n{run.communicate()[0][-4000:]}')
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)  # killed mid-run, no chance to clean up
    run.communicate()
    assert run.returncode == -signal.SIGKILL

    last = Path((work_dir / 'last_checkpoint').read_text().strip())
    ckpt = load_checkpoint_safely(str(last))
    epoch, it = ckpt['meta']['epoch'], ckpt['meta']['iter']
    assert epoch >= 2 and it == epoch * TRAIN_ROWS // BATCH
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])

    resumed = _train(config, work_dir, '--resume', '--cfg-options', f'train_cfg.max_epochs={epoch + 2}')
    out, _ = resumed.communicate(timeout=HANG_SECONDS)
    assert resumed.returncode == 0, out[-4000:]
    assert f'resumed epoch: {epoch}, iter: {it}' in out
    trained = [int(e) for e in re.findall(r'Epoch\(train\)\s+\[(\d+)\]', out)]
    assert trained and min(trained) == epoch + 1 and max(trained) == epoch + 2  # continues, does not restart
    final = load_checkpoint_safely(str(work_dir / f'epoch_{epoch + 2}.pth'))
    assert final['meta']['iter'] == (epoch + 2) * TRAIN_ROWS // BATCH
    assert re.search(r'retrieval/img2brain_top1: [\d.]+', out), 'the retrieval validation did not run'
    assert not torch.equal(final['state_dict']['img_proj.weight'], ckpt['state_dict']['img_proj.weight'])
    assert osp.isfile(work_dir / f'epoch_{epoch + 1}.pth')

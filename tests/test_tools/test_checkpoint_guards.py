# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/test.py and tools/train.py --resume refuse checkpoints that do not fit, with one clear line and exit 1."""

import os
import subprocess
import sys

import torch
from _helpers import PRETRAIN_CONFIGS, REPO

from mmbrain.utils.checkpoint import check_resumable, state_dict_mismatch


def _tool(script, *args, cwd, env=None):
    """Run a tool (a path relative to the repository, or absolute) with this interpreter."""
    env = dict(os.environ, PYTHONPATH=f'{REPO}{os.pathsep}' + os.environ.get('PYTHONPATH', ''), **(env or {}))
    return subprocess.run(
        [sys.executable, os.path.join(REPO, script), *args],
        capture_output=True,
        text=True,
        cwd=str(cwd),
        env=env,
        timeout=300,
    )


def _config(tmp_path, world, name):
    """The tiny synthetic pretraining config on the shared world, one process, 16 rows."""
    path = tmp_path / f'{name}.py'
    data = f'dict(data_root={world.converted_dir!r}, stimuli_file={world.stimuli_file!r}, subjects=[1])'
    loader = 'batch_size=8, num_workers=0, persistent_workers=False'
    path.write_text(
        f'_base_ = {os.path.join(REPO, PRETRAIN_CONFIGS[name])!r}\n'
        f'train_dataloader = dict({loader}, dataset=dict(**{data}, indices=16))\n'
        f'val_dataloader = dict({loader}, dataset=dict(**{data}, indices=16))\n'
        'test_dataloader = val_dataloader\n'
        'train_cfg = dict(max_epochs=1)\n'
    )
    return str(path)


def test_test_tool_refuses_weights_of_another_model(nsd_world, brainformer_checkpoints, tmp_path):
    config = _config(tmp_path, nsd_world, 'swin')
    ckpt = brainformer_checkpoints['convnext']
    result = _tool(
        'tools/test.py',
        config,
        ckpt,
        '--work-dir',
        str(tmp_path / 'work'),
        '--out',
        str(tmp_path / 'metrics.json'),
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: {ckpt}: its weights do not match the model of the config: ')
    assert 'missing keys' in last and 'unexpected keys' in last
    assert not (tmp_path / 'metrics.json').exists()


def test_state_dict_mismatch_names_every_kind():
    model = {'a': torch.zeros(2), 'b': torch.zeros(3, 4), 'c': torch.zeros(1)}
    ckpt = {'module.a': torch.zeros(2), 'b': torch.zeros(4, 3), 'd': torch.zeros(1)}
    assert state_dict_mismatch(model, ckpt) == dict(
        missing=['c'], unexpected=['d'], shape=['b: checkpoint (4, 3), model (3, 4)']
    )
    assert state_dict_mismatch(model, model) == dict(missing=[], unexpected=[], shape=[])
    wrapped = {f'module.{k}': v for k, v in model.items()}  # a distributed wrapper's state dict
    assert state_dict_mismatch(wrapped, model) == dict(missing=[], unexpected=[], shape=[])


def test_resume_from_a_backbone_only_file_is_a_clear_error(nsd_world, backbone_checkpoints, tmp_path):
    config = _config(tmp_path, nsd_world, 'convnext')
    backbone = backbone_checkpoints['convnext']
    result = _tool('tools/train.py', config, '--work-dir', str(tmp_path / 'work'), '--resume', backbone, cwd=tmp_path)
    assert result.returncode == 1
    assert 'KeyError' not in result.stderr and 'Traceback' not in result.stderr
    assert result.stderr.strip() == (
        f'error: {backbone}: not a resumable training checkpoint (no optimizer, message_hub): --resume needs a '
        'checkpoint that CheckpointHook saved during training; to start a new run from these weights use '
        f'--cfg-options load_from={backbone}'
    )


def test_a_models_own_checkpoint_passes_both_checks(brainformer_checkpoints):
    from mmengine.config import Config

    from mmbrain.registry import MODELS
    from mmbrain.utils import load_checkpoint_safely
    from mmbrain.utils.checkpoint import check_weights_match

    path = brainformer_checkpoints['convnext']
    ckpt = load_checkpoint_safely(path)
    check_resumable(ckpt, path)
    check_weights_match(
        MODELS.build(Config.fromfile(os.path.join(REPO, PRETRAIN_CONFIGS['convnext'])).model), ckpt, path
    )

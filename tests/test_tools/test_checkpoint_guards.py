# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/test.py and tools/train.py --resume refuse checkpoints that do not fit, with one clear line and exit 1."""

import os
import subprocess
import sys

import pytest
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


def _world_config(tmp_path, world, base, name, subject=1, batch=8, val_rows='16', extra=''):
    """A config inheriting ``base`` (relative to the repository) on the shared world: one subject, 16 training
    rows, one process, one epoch; ``extra`` lines appended."""
    path = tmp_path / f'{name}.py'
    data = f'dict(data_root={world.converted_dir!r}, stimuli_file={world.stimuli_file!r}, subjects=[{subject}])'
    loader = f'batch_size={batch}, num_workers=0, persistent_workers=False'
    path.write_text(
        f'_base_ = {os.path.join(REPO, base)!r}\n'
        f'train_dataloader = dict({loader}, dataset=dict(**{data}, indices=16))\n'
        f'val_dataloader = dict({loader}, dataset=dict(**{data}, indices={val_rows}))\n'
        'test_dataloader = val_dataloader\n'
        'train_cfg = dict(max_epochs=1)\n' + extra
    )
    return str(path)


def _config(tmp_path, world, name):
    """The tiny synthetic pretraining config of ``name`` (convnext, swin)."""
    return _world_config(tmp_path, world, PRETRAIN_CONFIGS[name], name)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


ENCODING_CONFIG = 'configs/encoding/voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'


def _encoding_config(tmp_path, world, backbone):
    """The synthetic ConvNeXt-mini encoding config (BrainResponsePredictor) on the world's last subject,
    initialised from ``backbone``."""
    subject = world.subjects[-1]
    subject_file = world.converted_file(subject)
    extra = (
        f'model = dict(backbone=dict(init_cfg=dict(checkpoint={backbone!r})), head=dict(num_voxels={subject_file!r}))\n'
        f'val_evaluator = dict(subject_file={subject_file!r})\n'
        'test_evaluator = val_evaluator\n'
    )
    return _world_config(tmp_path, world, ENCODING_CONFIG, 'encoding', subject, batch=4, val_rows='None', extra=extra)


@pytest.mark.slow
def test_train_stops_when_the_pretrained_backbone_does_not_fit(nsd_world, backbone_checkpoints, tmp_path):
    """A Swin backbone file in the ConvNeXt encoding config: mmengine warns and trains a readout on random frozen
    features (exit 0); BrainRunner stops after initialisation, naming the file and the module."""
    swin = backbone_checkpoints['swin']
    config = _encoding_config(tmp_path, nsd_world, swin)
    result = _tool('tools/train.py', config, '--work-dir', str(tmp_path / 'work'), cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {swin} (init_cfg of backbone, ConvNeXt, prefix 'backbone.'): the checkpoint does")
    assert 'unexpected keys (' in last and 'shape mismatches (' in last, last
    assert not list((tmp_path / 'work').glob('*.pth'))


@pytest.mark.slow
@pytest.mark.parametrize('state', ['foreign', 'empty'])
def test_resume_from_another_models_weights_is_a_clear_error(nsd_world, brainformer_checkpoints, tmp_path, state):
    """A training checkpoint whose state_dict is another model's (or empty): mmengine "resumes" from random weights
    and writes the next epoch; BrainRunner refuses."""
    from mmbrain.utils import load_checkpoint_safely

    ckpt = load_checkpoint_safely(brainformer_checkpoints['convnext'])
    other = load_checkpoint_safely(brainformer_checkpoints['swin'])['state_dict']
    ckpt['state_dict'] = other if state == 'foreign' else {}
    path = tmp_path / f'{state}.pth'
    torch.save(ckpt, path)
    config = _config(tmp_path, nsd_world, 'convnext')
    result = _tool('tools/train.py', config, '--work-dir', str(tmp_path / 'work'), '--resume', str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    expected = 'its weights do not match the model of the config' if state == 'foreign' else 'no state_dict of weights'
    assert last.startswith(f'error: {path}: {expected}'), last
    assert not list((tmp_path / 'work').glob('epoch_*.pth'))


@pytest.mark.slow
def test_test_tool_refuses_a_second_checkpoint_in_cfg_options(nsd_world, brainformer_checkpoints, tmp_path):
    """`tools/test.py CFG good.pth --cfg-options load_from=other.pth` checked good.pth and scored other.pth."""
    config = _config(tmp_path, nsd_world, 'convnext')
    good, other = brainformer_checkpoints['convnext'], brainformer_checkpoints['swin']
    result = _tool('tools/test.py', config, good, '--cfg-options', f'load_from={other}', cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f'error: --cfg-options load_from={other} conflicts with the checkpoint argument {good}: give the checkpoint '
        'to test once, as the argument'
    )


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['tools/train.py', 'tools/test.py'])
@pytest.mark.parametrize('problem', ['pair', 'work_dir'])
def test_usage_errors_exit_2(tool, problem, tmp_path):
    config = os.path.join(REPO, PRETRAIN_CONFIGS['convnext'])
    args = [config] + (['unused.pth'] if tool == 'tools/test.py' else [])
    if problem == 'pair':
        args += ['--cfg-options', 'foo']
        expected = "error: --cfg-options takes KEY=VALUE pairs, got ['foo']"
    else:
        args += ['--work-dir', str(tmp_path / '{{ fileDirname }}')]
        expected = f'error: --work-dir {tmp_path}/{{{{ fileDirname }}}}: a path containing'
    result = _tool(tool, *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().startswith(expected), result.stderr[-2000:]
    assert not (tmp_path / '{{ fileDirname }}').exists()

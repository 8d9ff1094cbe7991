# Copyright (c) mmbrain contributors. All rights reserved.
"""Fixtures of the downstream tests: real Brainformer checkpoints of the synthetic pretraining configs.

``brainformer_checkpoints`` pretrains each ``configs/pretrain/brainformer_*-mini_*_synthetic.py`` for two
iterations on the tiny synthetic world (shared ``nsd_world`` fixture) with mmengine's Runner, exactly as
``tools/train.py`` would, and returns the checkpoint its ``CheckpointHook`` saved (meta, message hub with
HistoryBuffers, optimizer and scheduler states). ``backbone_checkpoints`` converts them with
``tools/model_converters/brainformer_to_backbone.py``.
"""
import os.path as osp
from typing import Dict

import pytest

from ._helpers import PRETRAIN_CONFIGS, REPO, load_tool, world_data_options


@pytest.fixture(scope='session')
def brainformer_checkpoints(nsd_world, tmp_path_factory) -> Dict[str, str]:
    from mmengine.config import Config
    from mmengine.runner import Runner

    out = {}
    for name, config in PRETRAIN_CONFIGS.items():
        cfg = Config.fromfile(osp.join(REPO, config))
        cfg.merge_from_dict({
            **world_data_options(nsd_world, 'train_dataloader'),
            'train_dataloader.dataset.subjects': nsd_world.subjects[:-1],
            'train_dataloader.dataset.indices': 8,
            'train_dataloader.batch_size': 4,
            'train_cfg.max_epochs': 1,
            'default_hooks.logger.interval': 1,
            'log_level': 'WARNING',
        })
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
        cfg.work_dir = str(tmp_path_factory.mktemp(f'pretrain_{name}'))
        Runner.from_cfg(cfg).train()
        out[name] = osp.join(cfg.work_dir, 'epoch_1.pth')
    return out


@pytest.fixture(scope='session')
def backbone_checkpoints(brainformer_checkpoints, tmp_path_factory) -> Dict[str, str]:
    convert = load_tool('tools/model_converters/brainformer_to_backbone.py').convert
    out_dir = tmp_path_factory.mktemp('backbones')
    out = {}
    for name, ckpt in brainformer_checkpoints.items():
        out[name] = str(out_dir / f'{name}.pth')
        convert(ckpt, out[name])
    return out

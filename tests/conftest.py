# Copyright (c) mmbrain contributors. All rights reserved.
"""Shared fixtures: one tiny synthetic NSD world, generated and converted once per test session.

    def test_something(nsd_world):
        nsd_world.converted_dir      # subjXX.h5, single trials, z-scored per session
        nsd_world.averaged_dir       # subjXX.h5, repetitions averaged (one row per image)
        nsd_world.stimuli_file       # nsd_stimuli.hdf5 (imgBrick, 32 px)
        nsd_world.coco_dir, nsd_world.ade_dir, nsd_world.ground_truth_dir, nsd_world.world (world.json)

The world: 3 subjects x 2 sessions of 60 trials (40 images each, 8 shared, 3 repetitions), 32 px images,
~20-100 voxels per ROI group, 32 COCO images that are not NSD stimuli, 24 ADE images. Treat it as read-only.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List

import pytest
from _helpers import PRETRAIN_CONFIGS, REPO, load_tool, world_data_options


@dataclass(frozen=True)
class SyntheticNSDWorld:
    root: str
    converted_dir: str
    averaged_dir: str
    coco_dir: str
    ade_dir: str
    ground_truth_dir: str
    stimuli_file: str
    world: Dict = field(repr=False)

    @property
    def subjects(self) -> List[int]:
        return list(range(1, self.world['n_subjects'] + 1))

    def converted_file(self, subject: int, averaged: bool = False) -> str:
        return osp.join(self.averaged_dir if averaged else self.converted_dir, f'subj{subject:02d}.h5')

    def ground_truth(self, subject: int) -> str:
        return osp.join(self.ground_truth_dir, f'subj{subject:02d}.npz')


#: Arguments of the shared tiny world (tests that build their own variant start from these).
TINY_WORLD = dict(n_subjects=3, n_sessions=2, trials_per_session=60, image_size=32, volume_scale=0.1,
                  n_coco_extra=32, n_ade=24, seed=0, progress=False)


@pytest.fixture(scope='session')
def nsd_world(tmp_path_factory) -> SyntheticNSDWorld:
    """A tiny synthetic NSD world in the native layout, converted both per trial and averaged."""
    from mmbrain.datasets.converter import convert_nsd
    from mmbrain.datasets.nsd_files import stimuli_path
    from mmbrain.datasets.synthetic import make_synthetic_nsd

    root = str(tmp_path_factory.mktemp('synthetic_nsd') / 'world')
    world = make_synthetic_nsd(root, **TINY_WORLD)
    converted = osp.join(root, 'mmbrain')
    averaged = osp.join(root, 'mmbrain_avg')
    convert_nsd(root, converted, progress=False)
    convert_nsd(root, averaged, average_repeats=True, progress=False)
    return SyntheticNSDWorld(root=root, converted_dir=converted, averaged_dir=averaged, coco_dir=osp.join(root, 'coco'),
                             ade_dir=osp.join(root, 'ade'), ground_truth_dir=osp.join(root, 'ground_truth'),
                             stimuli_file=stimuli_path(root), world=world)


# Real Brainformer checkpoints of the synthetic pretraining configs (used by the tools, configs and evaluation
# tests): ``brainformer_checkpoints`` pretrains each ``configs/pretrain/brainformer_*-mini_*_synthetic.py`` for two
# iterations on ``nsd_world`` with mmengine's Runner, as ``tools/train.py`` would; ``backbone_checkpoints`` converts
# them with ``tools/model_converters/brainformer_to_backbone.py``.
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

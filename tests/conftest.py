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

import functools
import multiprocessing.process
import os
import os.path as osp
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pytest
from _helpers import (
    CLIP_PRETRAIN_CONFIGS,
    PRETRAIN_CONFIGS,
    REPO,
    caption_options,
    load_tool,
    world_args,
    world_data_options,
)

from mmbrain.datasets.converted_file import subject_file_name, subject_tag

# ------------------------------------------------------------------------------------------------ the fast lane
# ``pytest -m 'not slow'`` is the edit-test loop; every test that starts an mmengine Runner, a subprocess or a
# worker process (itself or through a fixture it is the first to use) must be marked ``@pytest.mark.slow``. The
# guard below makes an unmarked one fail with that message, so the fast lane stays fast.
_RUNNING: Dict[str, object] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _RUNNING['item'] = item  # before its fixtures are set up: a session fixture's Runner counts for this test


def pytest_runtest_teardown(item):
    _RUNNING.pop('item', None)


def _starts_a_program(args) -> bool:
    """Whether a ``Popen`` runs Python, a shell or a script of the repo (what a test starts; a library's own helper,
    e.g. matplotlib's ``fc-list`` when it builds its font cache, is not the test's doing)."""
    argv = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
    if not argv:
        return False
    name = osp.basename(argv[0])
    in_repo = os.sep in argv[0] and osp.abspath(argv[0]).startswith(REPO + os.sep)  # a script given by its path
    return name.startswith('python') or name in ('bash', 'sh', 'torchrun') or in_repo


def _slow_only(what: str, init, starts=lambda args: True):
    @functools.wraps(init)
    def guarded(self, *args, **kwargs):
        item = _RUNNING.get('item')
        if (
            item is not None
            and item.get_closest_marker('slow') is None
            and starts(args[0] if args else kwargs.get('args'))
        ):
            pytest.fail(
                f'{item.nodeid} starts {what} but is not marked @pytest.mark.slow (the fast lane, '
                "pytest -m 'not slow', must not start one)",
                pytrace=False,
            )
        return init(self, *args, **kwargs)

    return guarded


def pytest_configure(config):
    from mmengine.runner import Runner

    subprocess.Popen.__init__ = _slow_only('a subprocess', subprocess.Popen.__init__, _starts_a_program)
    # worker processes too: torch.multiprocessing.spawn, DataLoader workers (num_workers > 0)
    multiprocessing.process.BaseProcess.start = _slow_only('a process', multiprocessing.process.BaseProcess.start)
    Runner.__init__ = _slow_only('an mmengine Runner', Runner.__init__)


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
        return osp.join(self.averaged_dir if averaged else self.converted_dir, subject_file_name(subject))

    def ground_truth(self, subject: int) -> str:
        return osp.join(self.ground_truth_dir, f'{subject_tag(subject)}.npz')


#: Arguments of the shared tiny world (tests that build their own variant start from these).
TINY_WORLD = world_args(n_subjects=3, n_sessions=2, trials_per_session=60, image_size=32, n_coco_extra=32, n_ade=24)


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
    return SyntheticNSDWorld(
        root=root,
        converted_dir=converted,
        averaged_dir=averaged,
        coco_dir=osp.join(root, 'coco'),
        ade_dir=osp.join(root, 'ade'),
        ground_truth_dir=osp.join(root, 'ground_truth'),
        stimuli_file=stimuli_path(root),
        world=world,
    )


# Real Brainformer checkpoints of the synthetic pretraining configs (used by the tools, configs and evaluation
# tests): ``brainformer_checkpoints`` pretrains each ``configs/pretrain/brainformer_*-mini_*_synthetic.py`` for two
# iterations on ``nsd_world`` with mmengine's Runner, as ``tools/train.py`` would; ``backbone_checkpoints`` converts
# them with ``tools/model_converters/brainformer_to_backbone.py``.
def _pretrain_two_steps(nsd_world, config: str, work_dir: str, options: Optional[Dict[str, object]] = None) -> str:
    """Train a pretraining config for two iterations (8 rows of all but the last subject, batch 4) on ``nsd_world``."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(
        {
            **world_data_options(nsd_world, 'train_dataloader'),
            'train_dataloader.dataset.subjects': nsd_world.subjects[:-1],
            'train_dataloader.dataset.indices': 8,
            'train_dataloader.batch_size': 4,
            'train_cfg.max_epochs': 1,
            'default_hooks.logger.interval': 1,
            'log_level': 'WARNING',
            **(options or {}),
        }
    )
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.work_dir = work_dir
    Runner.from_cfg(cfg).train()
    return osp.join(cfg.work_dir, 'epoch_1.pth')


def _convert_backbones(checkpoints: Dict[str, str], out_dir) -> Dict[str, str]:
    convert = load_tool('tools/model_converters/brainformer_to_backbone.py').convert
    out = {}
    for name, ckpt in checkpoints.items():
        out[name] = str(out_dir / f'{name}.pth')
        convert(ckpt, out[name])
    return out


@pytest.fixture(scope='session')
def brainformer_checkpoints(nsd_world, tmp_path_factory) -> Dict[str, str]:
    return {
        name: _pretrain_two_steps(nsd_world, config, str(tmp_path_factory.mktemp(f'pretrain_{name}')))
        for name, config in PRETRAIN_CONFIGS.items()
    }


@pytest.fixture(scope='session')
def backbone_checkpoints(brainformer_checkpoints, tmp_path_factory) -> Dict[str, str]:
    return _convert_backbones(brainformer_checkpoints, tmp_path_factory.mktemp('backbones'))


# The same for the CLIP baseline (``configs/pretrain/clip_*-mini_*_synthetic.py``, the world's captions).
@pytest.fixture(scope='session')
def clip_checkpoints(nsd_world, tmp_path_factory) -> Dict[str, str]:
    return {
        name: _pretrain_two_steps(
            nsd_world,
            config,
            str(tmp_path_factory.mktemp(f'pretrain_clip_{name}')),
            caption_options(nsd_world, 'train_dataloader'),
        )
        for name, config in CLIP_PRETRAIN_CONFIGS.items()
    }


@pytest.fixture(scope='session')
def clip_backbone_checkpoints(clip_checkpoints, tmp_path_factory) -> Dict[str, str]:
    return _convert_backbones(clip_checkpoints, tmp_path_factory.mktemp('clip_backbones'))

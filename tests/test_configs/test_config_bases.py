# Copyright (c) mmbrain contributors. All rights reserved.
"""Each piece of config knowledge in one base: the synthetic world is NSD's splits and pipelines on other files
(``_base_/datasets/synthetic_nsd.py`` inherits ``nsd.py``), and every encoding config takes the held-out subject's
splits, pipeline, metric and schedule from ``_base_/encoding_readout.py``."""

import copy
import glob
import os.path as osp

import pytest
from _helpers import REPO
from mmengine.config import Config

WORLD_KEYS = ('data_root', 'stimuli_file')  # what the synthetic world changes in a dataset, besides the image size
ENCODING = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*', 'voxel-readout*.py')))


def _load(path: str) -> Config:
    return Config.fromfile(osp.join(REPO, path))


def _without_world(loader: dict, img_size: int) -> dict:
    loader = copy.deepcopy(loader)
    for key in ('batch_size', 'num_workers', 'pin_memory'):
        loader.pop(key, None)
    for key in WORLD_KEYS:
        loader['dataset'].pop(key)
    for step in loader['dataset']['pipeline']:
        if 'img_size' in step:
            assert step.pop('img_size') == img_size
    return loader


def test_synthetic_world_is_nsd_on_other_files():
    nsd, synthetic = _load('configs/_base_/datasets/nsd.py'), _load('configs/_base_/datasets/synthetic_nsd.py')
    assert synthetic.filename and "_base_ = './nsd.py'" in open(synthetic.filename).read()
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert _without_world(synthetic[loader], 64) == _without_world(nsd[loader], 224), loader
        assert synthetic[loader]['dataset']['data_root'] == 'data/synthetic_nsd/mmbrain'
    assert synthetic.train_dataloader.pin_memory is False and nsd.train_dataloader.pin_memory is True
    for key in ('pipeline', 'encoding_pipeline'):
        assert [dict(s, img_size=0) if 'img_size' in s else s for s in synthetic[key]] == [
            dict(s, img_size=0) if 'img_size' in s else s for s in nsd[key]
        ]


@pytest.mark.parametrize('config', ENCODING)
def test_encoding_configs_take_the_task_from_one_base(config):
    cfg = _load(config)
    base = _load('configs/_base_/encoding_readout.py')
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader']['dataset']
        for key, value in base.encoding_splits[split].items():
            assert dataset[key] == value, (split, key)
        assert dataset['pipeline'] == cfg.encoding_pipeline
        assert not any(s.get('with_xyz', True) for s in dataset['pipeline'] if s['type'] == 'LoadNSDResponses')
    assert cfg.val_evaluator == cfg.test_evaluator == dict(type='BrainEncodingMetric', subject_file=cfg.subject_file)
    assert cfg.model.head.num_voxels == cfg.subject_file
    assert cfg.train_cfg == base.train_cfg and cfg.optim_wrapper == base.optim_wrapper or 'demo' in config
    if config.endswith('_nsd-subj08.py'):  # paper scale: lr scaling for multi-GPU runs, off unless asked for
        assert cfg.auto_scale_lr == dict(base_batch_size=64, enable=False)

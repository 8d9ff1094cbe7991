# Copyright (c) mmbrain contributors. All rights reserved.
"""No test leakage in any encoding config: validation (checkpoint choice) and test (shared1000) images never overlap,
nor do either with the training images; the test split is scored by the test loop only."""

import copy
import glob
import json
import os.path as osp

import pytest
from _helpers import REPO
from mmengine.config import Config

ENCODING_CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs/encoding/*.py'))
    + glob.glob(osp.join(REPO, 'configs/demo/voxel-readout*.py'))
)


_IMAGES = {}  # configs that share a dataset definition (most inherit one base) build it once


def _images(dataset_cfg, nsd_world, subject):
    from mmengine.registry import DefaultScope

    from mmbrain.registry import DATASETS

    cfg = copy.deepcopy(dataset_cfg)
    cfg.update(data_root=nsd_world.converted_dir, stimuli_file=nsd_world.stimuli_file, subjects=[subject], pipeline=[])
    key = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    if key not in _IMAGES:
        with DefaultScope.overwrite_default_scope('mmbrain'):
            dataset = DATASETS.build(cfg)
        _IMAGES[key] = {dataset.get_data_info(i)['nsd_id'] for i in range(len(dataset))}
    return _IMAGES[key]


def test_every_encoding_config_is_checked():
    assert len(ENCODING_CONFIGS) >= 10, ENCODING_CONFIGS


@pytest.mark.parametrize('config', ENCODING_CONFIGS)
def test_validation_and_test_images_are_disjoint(config, nsd_world):
    cfg = Config.fromfile(osp.join(REPO, config))
    train, val, test = (cfg[f'{s}_dataloader'].dataset for s in ('train', 'val', 'test'))
    assert (train.get('split', 'train'), val.split, test.split) == ('train', 'val', 'test'), config
    assert (
        val.get('split_by', 'shared1000') == test.get('split_by', 'shared1000') == train.get('split_by', 'shared1000')
    )
    assert train.val_fraction == val.val_fraction > 0, 'train must leave out the validation images'
    assert train.get('val_seed', 0) == val.get('val_seed', 0)
    # the checkpoint is chosen by a metric of the validation loop
    assert cfg.default_hooks.checkpoint.save_best.startswith('nsd/')
    assert cfg.val_evaluator.type == cfg.test_evaluator.type == 'BrainEncodingMetric'
    for subject in (1, 3):
        images = {name: _images(d, nsd_world, subject) for name, d in (('train', train), ('val', val), ('test', test))}
        assert images['val'] and images['test'] and images['train']
        assert not images['val'] & images['test'], f'{config}: validation images in the test split'
        assert not images['train'] & images['test'], f'{config}: training images in the test split'
        assert not images['train'] & images['val'], f'{config}: training images in the validation split'

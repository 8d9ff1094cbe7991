# Copyright (c) mmbrain contributors. All rights reserved.
"""The CLIP baseline's configs are like-for-like twins of Brainformer's: same images, backbone, schedule, seed;
the downstream ``*clip-pre*`` configs differ from their ``*brainformer-pre*`` twins in the checkpoint only."""

import copy
import glob
import os.path as osp

import pytest
from _helpers import REPO
from mmengine.config import Config

#: CLIP pretraining configs; the Brainformer twin of each has the same name with ``brainformer_`` for ``clip_``
CLIP_PRETRAIN = (
    'configs/pretrain/clip_convnext-mini_1xb32-coslr-4e_synthetic.py',
    'configs/pretrain/clip_swin-mini_1xb32-coslr-4e_synthetic.py',
    'configs/pretrain/clip_convnext-s_8xb64-coslr-100e_nsd.py',
    'configs/pretrain/clip_swin-s_8xb64-coslr-100e_nsd.py',
    'configs/demo/clip_convnext-mini_1xb32-600i_synthetic-demo.py',
)
PRETRAIN_TWINS = {clip: clip.replace('/clip_', '/brainformer_') for clip in CLIP_PRETRAIN}
SHARED = (
    'train_cfg',
    'val_cfg',
    'param_scheduler',
    'optim_wrapper',
    'randomness',
    'auto_scale_lr',
    'env_cfg',
    'model_wrapper_cfg',
)


def _load(path: str) -> Config:
    return Config.fromfile(osp.join(REPO, path))


def _without_pipeline(loader: dict) -> dict:
    loader = copy.deepcopy(loader)
    loader['dataset'].pop('pipeline')
    return loader


@pytest.mark.parametrize('clip_config, twin', sorted(PRETRAIN_TWINS.items()))
def test_clip_pretraining_is_the_twin_with_captions(clip_config, twin):
    clip, brainformer = _load(clip_config), _load(twin)
    assert clip.model.type == 'ClipPretrainer'
    for key in ('backbone', 'backbone_out_dims', 'data_preprocessor', 'contrastive_loss'):
        assert clip.model[key] == brainformer.model[key], key
    assert clip.model.embed_dims == brainformer.model.fmri_encoder.embed_dims
    for key in SHARED:
        assert clip.get(key) == brainformer.get(key), key
    for loader in ('train_dataloader', 'val_dataloader'):  # the same rows (subjects, split, held-out images)
        assert _without_pipeline(clip[loader]) == _without_pipeline(brainformer[loader]), loader
        steps = [t['type'] for t in clip[loader]['dataset']['pipeline']]
        assert steps == ['LoadNSDStimulus', 'LoadNSDCaption', 'PackBrainInputs']
        assert clip[loader]['dataset']['pipeline'][0] == brainformer[loader]['dataset']['pipeline'][0]
        assert 'text' in clip[loader]['dataset']['pipeline'][2]['meta_keys']
    assert clip.train_dataloader.dataset.pipeline[1].draw == 'random'
    assert clip.val_dataloader.dataset.pipeline[1].draw == 'first'
    assert clip.val_evaluator == dict(brainformer.val_evaluator, modality='text')


def _brainformer_pre_configs():
    return sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*', '*brainformer-pre*.py')))


def test_every_brainformer_pre_config_has_a_clip_twin():
    configs = _brainformer_pre_configs()
    assert len(configs) >= 15
    for config in configs:
        assert osp.isfile(osp.join(REPO, config.replace('brainformer-pre', 'clip-pre'))), config


@pytest.mark.parametrize('config', _brainformer_pre_configs())
def test_clip_pre_twin_differs_in_the_checkpoint_only(config):
    brainformer, clip = _load(config), _load(config.replace('brainformer-pre', 'clip-pre'))
    checkpoint = clip.model.backbone.init_cfg.checkpoint
    assert checkpoint != brainformer.model.backbone.init_cfg.checkpoint
    assert checkpoint == brainformer.model.backbone.init_cfg.checkpoint.replace('brainformer_', 'clip_')
    clip.model.backbone.init_cfg.checkpoint = brainformer.model.backbone.init_cfg.checkpoint
    if 'checkpoint_file' in brainformer:  # the variable naming the checkpoint, where a twin sets it
        clip.checkpoint_file = brainformer.checkpoint_file
    assert clip.to_dict() == brainformer.to_dict()

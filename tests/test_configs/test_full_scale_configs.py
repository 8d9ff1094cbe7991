# Copyright (c) mmbrain contributors. All rights reserved.
"""The paper-scale downstream configs (too big to train here) take exactly the backbone their pretraining builds."""

import functools
import glob
import os.path as osp

import pytest
from _helpers import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbrain.registry import MODELS

PRETRAIN_BACKBONES = {
    'convnext-s': 'configs/_base_/models/brainformer_convnext-s.py',
    'swin-s': 'configs/_base_/models/brainformer_swin-s.py',
}
CONFIGS = sorted(
    osp.relpath(p, REPO)
    for d in ('det', 'seg', 'encoding')
    for p in glob.glob(osp.join(REPO, 'configs', d, '*-s-*brainformer-pre_*.py'))
)


@functools.lru_cache
def _backbone_keys(config: str) -> frozenset:
    """State-dict keys of the config's backbone."""
    cfg = Config.fromfile(osp.join(REPO, config)).model.backbone
    cfg.init_cfg = None
    init_default_scope('mmbrain')
    return frozenset(MODELS.build(cfg).state_dict())


@pytest.mark.parametrize('config', CONFIGS)
def test_downstream_backbone_matches_pretraining(config):
    arch = next(a for a in PRETRAIN_BACKBONES if f'_{a}-' in osp.basename(config))
    cfg = Config.fromfile(osp.join(REPO, config))
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=cfg.checkpoint_file, prefix='backbone.')
    assert _backbone_keys(config) == _backbone_keys(PRETRAIN_BACKBONES[arch])


def test_every_paper_scale_config_is_covered():
    # det, seg, encoding x ConvNeXt-S, Swin-S x random / ImageNet-1k start, and the spatial readout's encoding twins
    assert len(CONFIGS) == 14

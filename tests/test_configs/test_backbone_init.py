# Copyright (c) mmbrain contributors. All rights reserved.
"""The backbone-initialisation switch (docs/evaluation.md, "Backbone initialisation"): the ``*in1k*`` configs start
from the ImageNet-1k weights mmpretrain lists under its own model names, and build without network; every other
config (the synthetic world included) keeps its random start or its pretrained backbone file."""

import glob
import os.path as osp

import pytest
from _helpers import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbrain.registry import MODELS

ARCH = {'convnext-s': ('convnext_s', 'ConvNeXt'), 'swin-s': ('swin_s', 'SwinTransformer')}
IN1K_CONFIGS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*', '*in1k*.py')))


def _arch(config: str) -> str:
    return next(a for a in ARCH if f'_{a}' in osp.basename(config))


def _load(config: str) -> Config:
    return Config.fromfile(osp.join(REPO, config))


def test_every_twin_exists():
    """Pretraining (Brainformer, CLIP) and det / seg / encoding x (ImageNet only, CLIP, Brainformer) per backbone."""
    names = {osp.basename(c) for c in IN1K_CONFIGS}
    for arch in ARCH:
        for method in ('brainformer', 'clip'):
            assert f'{method}_{arch}_in1k-init_8xb64-coslr-100e_nsd.py' in names
        for pattern in (
            'mask-rcnn_{}_fpn_8xb2-1x_coco.py',
            'upernet_{}_8xb2-160k_ade20k-512x512.py',
            'voxel-readout_{}_1xb64-20e_nsd-subj08.py',
        ):
            for row in ('in1k', 'in1k-clip-pre', 'in1k-brainformer-pre'):
                assert pattern.format(f'{arch}-{row}') in names, (arch, row, pattern)
    assert len(IN1K_CONFIGS) == 2 * (2 + 3 * 3)


@pytest.mark.parametrize('config', [c for c in IN1K_CONFIGS if '-pre_' not in c])
def test_imagenet_start_is_mmpretrains_own_checkpoint(config):
    """Pretraining twins and the "ImageNet only" rows load the weights mmpretrain's model zoo names (offline)."""
    from mmpretrain.apis import ModelHub

    cfg = _load(config)
    key, backbone_type = ARCH[_arch(config)]
    name = cfg.in1k_model_names[key]
    zoo = ModelHub.get(name)  # mmpretrain's packaged metafiles: no network
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=zoo.weights, prefix='backbone.')
    assert zoo.config.model.backbone.type == backbone_type and zoo.config.model.backbone.arch == 'small'
    assert cfg.model.backbone.arch == 'small'
    backbone = dict(cfg.model.backbone)
    init_default_scope('mmbrain')
    model = MODELS.build(backbone)  # builds; nothing is downloaded before init_weights()
    assert model.init_cfg['checkpoint'] == zoo.weights


@pytest.mark.parametrize('config', [c for c in IN1K_CONFIGS if '-pre_' in c])
def test_pretrained_rows_load_the_in1k_started_pretraining(config):
    cfg = _load(config)
    method = 'clip' if '-clip-pre_' in config else 'brainformer'
    arch = _arch(config)
    expected = f'checkpoints/{method}_{arch}_in1k-init_nsd_backbone.pth'
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=expected, prefix='backbone.')
    assert cfg.checkpoint_file == expected
    random_start = _load(config.replace('-in1k-', '-'))  # the twin from a random start differs in the file only
    random_start.model.backbone.init_cfg.checkpoint = expected
    random_start.checkpoint_file = expected
    assert cfg.to_dict() == random_start.to_dict()


def test_synthetic_world_keeps_random_init():
    for config in glob.glob(osp.join(REPO, 'configs', '*', '*synthetic*.py')):
        init = Config.fromfile(config).model.get('backbone', {}).get('init_cfg')
        inits = init if isinstance(init, list) else [init]
        for item in inits:
            if item and item.get('type') == 'Pretrained':
                assert not item['checkpoint'].startswith('http'), config  # a local pretraining output, not ImageNet

# Copyright (c) mmbrain contributors. All rights reserved.
"""Scoped registries and configs that mix scopes (``mmpretrain.``, ``mmdet::``, ``mmseg::``)."""

import pytest
from mmengine.config import Config
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import init_default_scope

from mmbrain.registry import DATASETS, FUNCTIONS, METRICS, MODELS, TRANSFORMS


def test_registries_are_scoped_children_of_mmengine():
    for registry in (DATASETS, FUNCTIONS, METRICS, MODELS, TRANSFORMS):
        assert registry.scope == 'mmbrain'
        assert registry.parent is not None and registry.parent.scope == 'mmengine'
    assert MODELS.parent is MMENGINE_MODELS and DATASETS.parent is MMENGINE_DATASETS


def test_cross_scope_build_from_mmbrain():
    init_default_scope('mmbrain')
    convnext = MODELS.build(dict(type='mmpretrain.ConvNeXt', arch='atto', out_indices=(3,)))
    assert type(convnext).__module__.startswith('mmpretrain.')


@pytest.mark.parametrize(
    'base, model_type',
    [
        ('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', 'MaskRCNN'),
        ('mmseg::_base_/models/upernet_convnext.py', 'EncoderDecoder'),
        ('mmpretrain::_base_/models/convnext/convnext-small.py', 'ImageClassifier'),
    ],
)
def test_package_config_bases_resolve(tmp_path, base, model_type):
    cfg_file = tmp_path / 'child.py'
    cfg_file.write_text(f"_base_ = '{base}'\ncustom_imports = dict(imports=['mmbrain'], allow_failed_imports=False)\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.type == model_type
    assert cfg.custom_imports.imports == ['mmbrain']

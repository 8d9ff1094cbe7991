# Copyright (c) mmbrain contributors. All rights reserved.
"""Which guidance setting each config trains with (docs/guidance_loss.md), and the gradient hook in the CPU configs."""

import os.path as osp

import pytest
from _helpers import REPO
from mmengine.config import Config

ABLATIONS = 'configs/pretrain/ablations/brainformer_convnext-s_{}_8xb64-coslr-100e_nsd.py'
DEMO = 'configs/demo/brainformer_convnext-mini_{}1xb32-600i_synthetic-demo.py'


@pytest.mark.parametrize(
    'config, negatives',
    [
        ('configs/pretrain/brainformer_convnext-s_8xb64-coslr-100e_nsd.py', 'rois+samples'),
        ('configs/pretrain/brainformer_swin-s_8xb64-coslr-100e_nsd.py', 'rois+samples'),
        ('configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py', 'rois+samples'),
        (DEMO.format(''), 'rois+samples'),
        (DEMO.format('bfg-printed_'), 'rois'),
        (DEMO.format('wo-bfg_'), None),
        (ABLATIONS.format('bfg-printed'), 'rois'),
        (ABLATIONS.format('bfg-samples'), 'samples'),
        (ABLATIONS.format('bfg-rois-samples'), 'rois+samples'),
        (ABLATIONS.format('wo-bfg'), None),
        (ABLATIONS.format('wo-bfg-lcon1.0'), None),
        (DEMO.format('wo-bfg-lcon1.0_'), None),
    ],
)
def test_guidance_negatives(config, negatives):
    guidance = Config.fromfile(osp.join(REPO, config)).model.guidance_loss
    if negatives is None:
        assert guidance is None
    else:
        assert guidance.type == 'BrainFMRIGuidanceLoss' and guidance.negatives == negatives
        assert guidance.loss_weight == 0.5 and guidance.temperature == 0.1 and guidance.normalize


@pytest.mark.parametrize(
    'config, lambda_con',
    [
        (DEMO.format(''), 0.5),
        (DEMO.format('wo-bfg_'), 0.5),
        (DEMO.format('wo-bfg-lcon1.0_'), 1.0),
        (ABLATIONS.format('wo-bfg'), 0.5),
        (ABLATIONS.format('wo-bfg-lcon1.0'), 1.0),
    ],
)
def test_guidance_ablation_both_ways(config, lambda_con):
    """ "w/o guidance loss" at the paper's lambda_con = 0.5 (half the alignment weight) and at 1.0 (the same weight);
    the two twins differ in that weight only."""
    cfg = Config.fromfile(osp.join(REPO, config))
    assert cfg.model.contrastive_loss.loss_weight == lambda_con
    if lambda_con == 1.0:
        twin = Config.fromfile(osp.join(REPO, config.replace('wo-bfg-lcon1.0', 'wo-bfg')))
        twin.model.contrastive_loss.loss_weight = 1.0
        assert cfg.to_dict() == twin.to_dict()


@pytest.mark.parametrize(
    'config',
    [
        DEMO.format(''),
        DEMO.format('bfg-printed_'),
        DEMO.format('wo-bfg_'),
        DEMO.format('wo-bfg-lcon1.0_'),
        DEMO.format('printed-windows_'),
        'configs/pretrain/brainformer_swin-mini_1xb32-coslr-4e_synthetic.py',
    ],
)
def test_cpu_pretraining_logs_the_backbone_gradients(config):
    hooks = Config.fromfile(osp.join(REPO, config)).custom_hooks
    assert [h['type'] for h in hooks].count('LossGradientNormHook') == 1

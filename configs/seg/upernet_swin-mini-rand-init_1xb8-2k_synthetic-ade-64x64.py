# Copyright (c) mmbrain contributors. All rights reserved.
# The random-init control of upernet_swin-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py: truncated normal
# linear layers and unit LayerNorms, as Swin is trained from scratch.
_base_ = './upernet_swin-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ]))

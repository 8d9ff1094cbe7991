# Copyright (c) mmbrain contributors. All rights reserved.
# The random-init control of upernet_convnext-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py (Table 2's
# "Random init" row on the synthetic world): the backbone initialised as mmpretrain's ConvNeXt does.
_base_ = './upernet_convnext-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
        dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.),
    ]))

# Copyright (c) mmbrain contributors. All rights reserved.
# Table 2 "ConvNext-S / Random init": the same UperNet, backbone initialised as mmpretrain's ConvNeXt does.
_base_ = './upernet_convnext-s-brainformer-pre_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
        dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.),
    ]))

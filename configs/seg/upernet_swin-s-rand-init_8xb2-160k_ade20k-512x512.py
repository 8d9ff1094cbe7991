# Copyright (c) mmbrain contributors. All rights reserved.
# Table 2 "Swin-S / Random init": the same UperNet, backbone initialised as Swin is trained from scratch
# (truncated normal linear layers, unit LayerNorms).
_base_ = './upernet_swin-s-brainformer-pre_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ]))

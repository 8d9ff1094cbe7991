# Copyright (c) mmbrain contributors. All rights reserved.
# Table 2 "ConvNext-S / Random init" (NSD PCC): the same frozen ConvNeXt-S and readout, the backbone initialised as
# mmpretrain's ConvNeXt does.
_base_ = './voxel-readout_convnext-s-brainformer-pre_1xb64-20e_nsd-subj08.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
        dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.),
    ]))

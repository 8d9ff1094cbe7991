# Copyright (c) mmbrain contributors. All rights reserved.
# The random-init control of voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py (Table 2's
# "Random init" NSD row on the synthetic world): the same frozen ConvNeXt-mini, initialised as mmpretrain does.
_base_ = './voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
        dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.),
    ]))

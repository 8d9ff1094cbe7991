# Copyright (c) mmbrain contributors. All rights reserved.
# The random-init control of voxel-readout_swin-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py: truncated
# normal linear layers and unit LayerNorms, as Swin is trained from scratch.
_base_ = './voxel-readout_swin-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ]))

# Copyright (c) mmbrain contributors. All rights reserved.
# Table 2 "Swin-S / Random init" (NSD PCC): the same frozen Swin-S and readout, initialised as Swin is trained from
# scratch (truncated normal linear layers, unit LayerNorms).
_base_ = './voxel-readout_swin-s-brainformer-pre_1xb64-20e_nsd-subj08.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ]))

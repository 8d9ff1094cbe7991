# Copyright (c) mmbrain contributors. All rights reserved.
# The random-init control of mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py (Table 1's
# "Random init" row on the synthetic world): the backbone initialised as mmpretrain's ConvNeXt does.
_base_ = './mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
        dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.),
    ]))

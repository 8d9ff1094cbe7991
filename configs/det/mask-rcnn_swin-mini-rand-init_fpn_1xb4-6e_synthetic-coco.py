# Copyright (c) mmbrain contributors. All rights reserved.
# The random-init control of mask-rcnn_swin-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py: truncated normal
# linear layers and unit LayerNorms, as Swin is trained from scratch.
_base_ = './mask-rcnn_swin-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ]))

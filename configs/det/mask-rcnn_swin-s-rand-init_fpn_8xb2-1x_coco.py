# Copyright (c) mmbrain contributors. All rights reserved.
# Table 1 "Swin-S / Random init": the same Mask R-CNN, backbone initialised as Swin is trained from scratch
# (truncated normal linear layers, unit LayerNorms; mmpretrain's swin classifier configs and mmdet's own Swin).
_base_ = './mask-rcnn_swin-s-brainformer-pre_fpn_8xb2-1x_coco.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ]))

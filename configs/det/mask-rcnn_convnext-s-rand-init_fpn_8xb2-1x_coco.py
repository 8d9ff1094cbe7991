# Copyright (c) mmbrain contributors. All rights reserved.
# Table 1 "ConvNext-S / Random init": the same Mask R-CNN, backbone initialised as mmpretrain's ConvNeXt does.
_base_ = './mask-rcnn_convnext-s-brainformer-pre_fpn_8xb2-1x_coco.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
        dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.),
    ]))

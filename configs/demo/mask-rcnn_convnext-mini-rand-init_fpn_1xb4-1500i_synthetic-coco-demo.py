# Copyright (c) mmbrain contributors. All rights reserved.
# The random-init control of mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-1500i_synthetic-coco-demo.py: the
# same model and schedule, the backbone initialised as in
# ../det/mask-rcnn_convnext-mini-rand-init_fpn_1xb4-6e_synthetic-coco.py.
_base_ = './mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-1500i_synthetic-coco-demo.py'

model = dict(backbone=dict(init_cfg=[
    dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
    dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.),
]))

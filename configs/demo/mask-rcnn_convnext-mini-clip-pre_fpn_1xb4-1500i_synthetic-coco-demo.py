# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP-initialised twin of
#   mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-1500i_synthetic-coco-demo.py:
# the same model, data and schedule; only the backbone checkpoint differs: the image backbone of
#   configs/pretrain/clip_convnext-mini_1xb32-coslr-4e_synthetic.py,
# extracted with tools/model_converters/brainformer_to_backbone.py.
_base_ = './mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-1500i_synthetic-coco-demo.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/clip_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth')))

# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP-initialised twin of
#   mask-rcnn_convnext-s-brainformer-pre_fpn_8xb2-1x_coco.py:
# the same model, data and schedule; only the backbone checkpoint differs: the image backbone of
#   configs/pretrain/clip_convnext-s_8xb64-coslr-100e_nsd.py,
# extracted with tools/model_converters/brainformer_to_backbone.py.
_base_ = './mask-rcnn_convnext-s-brainformer-pre_fpn_8xb2-1x_coco.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='checkpoints/clip_convnext-s_nsd_backbone.pth')))

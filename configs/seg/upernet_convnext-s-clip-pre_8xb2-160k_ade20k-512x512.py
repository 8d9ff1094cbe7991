# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP-initialised twin of
#   upernet_convnext-s-brainformer-pre_8xb2-160k_ade20k-512x512.py:
# the same model, data and schedule; only the backbone checkpoint differs: the image backbone of
#   configs/pretrain/clip_convnext-s_8xb64-coslr-100e_nsd.py,
# extracted with tools/model_converters/brainformer_to_backbone.py.
_base_ = './upernet_convnext-s-brainformer-pre_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='checkpoints/clip_convnext-s_nsd_backbone.pth')))

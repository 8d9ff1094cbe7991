# Copyright (c) mmbrain contributors. All rights reserved.
# The ImageNet-1k-start twin of upernet_swin-s-clip-pre_8xb2-160k_ade20k-512x512.py: the backbone of
# configs/pretrain/clip_swin-s_in1k-init_8xb64-coslr-100e_nsd.py (pretraining that started from mmpretrain's
# ImageNet-1k weights), extracted with tools/model_converters/brainformer_to_backbone.py.
_base_ = './upernet_swin-s-clip-pre_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/clip_swin-s_in1k-init_nsd_backbone.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint_file)))

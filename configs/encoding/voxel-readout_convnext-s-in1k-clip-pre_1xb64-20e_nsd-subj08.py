# Copyright (c) mmbrain contributors. All rights reserved.
# The ImageNet-1k-start twin of voxel-readout_convnext-s-clip-pre_1xb64-20e_nsd-subj08.py: the backbone of
# configs/pretrain/clip_convnext-s_in1k-init_8xb64-coslr-100e_nsd.py (pretraining that started from mmpretrain's
# ImageNet-1k weights), extracted with tools/model_converters/brainformer_to_backbone.py.
_base_ = './voxel-readout_convnext-s-clip-pre_1xb64-20e_nsd-subj08.py'

checkpoint_file = 'checkpoints/clip_convnext-s_in1k-init_nsd_backbone.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint_file)))

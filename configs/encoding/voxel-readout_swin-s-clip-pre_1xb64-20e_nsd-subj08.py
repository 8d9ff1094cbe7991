# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP-initialised twin of
#   voxel-readout_swin-s-brainformer-pre_1xb64-20e_nsd-subj08.py:
# the same model, data and schedule; only the backbone checkpoint differs: the image backbone of
#   configs/pretrain/clip_swin-s_8xb64-coslr-100e_nsd.py,
# extracted with tools/model_converters/brainformer_to_backbone.py.
_base_ = './voxel-readout_swin-s-brainformer-pre_1xb64-20e_nsd-subj08.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='checkpoints/clip_swin-s_nsd_backbone.pth')))

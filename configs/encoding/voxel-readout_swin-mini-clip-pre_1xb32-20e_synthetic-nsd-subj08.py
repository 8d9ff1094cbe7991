# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP-initialised twin of
#   voxel-readout_swin-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py:
# the same model, data and schedule; only the backbone checkpoint differs: the image backbone of
#   configs/pretrain/clip_swin-mini_1xb32-coslr-4e_synthetic.py,
# extracted with tools/model_converters/brainformer_to_backbone.py.
_base_ = './voxel-readout_swin-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/clip_swin-mini_1xb32-coslr-4e_synthetic/backbone.pth')))

# Copyright (c) mmbrain contributors. All rights reserved.
# The Swin twin of brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py: a 4-stage Swin of one block per stage
# (32-256 channels, window 2) on the 64 px synthetic stimuli; the fMRI side and schedule are the same.
_base_ = './brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'

model = dict(
    backbone=dict(
        _delete_=True, type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]), img_size=64, window_size=2,
        out_indices=(0, 1, 2, 3), drop_path_rate=0.),
    backbone_out_dims=256)

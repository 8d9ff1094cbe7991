# Copyright (c) mmbrain contributors. All rights reserved.
# The Swin twin of clip_convnext-mini_1xb32-coslr-4e_synthetic.py, with the backbone of
# brainformer_swin-mini_1xb32-coslr-4e_synthetic.py (its CLIP counterpart); text side and schedule the same.
_base_ = './clip_convnext-mini_1xb32-coslr-4e_synthetic.py'

model = dict(
    backbone=dict(
        _delete_=True, type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]), img_size=64, window_size=2,
        out_indices=(0, 1, 2, 3), drop_path_rate=0.),
    backbone_out_dims=256)

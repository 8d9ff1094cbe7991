# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer with a Swin-S image backbone (Sec. 4.2); the fMRI side as in brainformer_convnext-s.py.
_base_ = './brainformer_convnext-s.py'

model = dict(
    backbone=dict(
        _delete_=True, type='mmpretrain.SwinTransformer', arch='small', img_size=224, out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3),
    backbone_out_dims=768,
)

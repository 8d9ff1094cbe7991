# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline of Tables 1-2 for Swin-S: clip_convnext-s_8xb64-coslr-100e_nsd.py with the backbone of
# brainformer_swin-s_8xb64-coslr-100e_nsd.py (its Brainformer twin); text side, data and schedule the same.
#   bash tools/dist_train.sh configs/pretrain/clip_swin-s_8xb64-coslr-100e_nsd.py 8 [--amp]
_base_ = './clip_convnext-s_8xb64-coslr-100e_nsd.py'

model = dict(
    backbone=dict(
        _delete_=True, type='mmpretrain.SwinTransformer', arch='small', img_size=224, out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3),
    backbone_out_dims=768)

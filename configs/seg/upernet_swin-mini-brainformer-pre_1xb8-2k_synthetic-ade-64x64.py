# Copyright (c) mmbrain contributors. All rights reserved.
# The Swin twin of upernet_convnext-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py: the Brainformer-pretrained
# Swin-mini of configs/pretrain/brainformer_swin-mini_1xb32-coslr-4e_synthetic.py, same data, heads and schedule.
_base_ = './upernet_convnext-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py'

checkpoint_file = 'work_dirs/brainformer_swin-mini_1xb32-coslr-4e_synthetic/backbone.pth'
channels = [32, 64, 128, 256]  # Swin-mini, as pretrained
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]),
        img_size=64,
        window_size=2,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        pad_small_map=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=channels),
    auxiliary_head=dict(in_channels=channels[2]))

# Copyright (c) mmbrain contributors. All rights reserved.
# The Swin twin of voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py: the frozen
# Brainformer-pretrained Swin-mini of configs/pretrain/brainformer_swin-mini_1xb32-coslr-4e_synthetic.py.
_base_ = './voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'

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
        frozen_stages=3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    head=dict(in_channels=channels))

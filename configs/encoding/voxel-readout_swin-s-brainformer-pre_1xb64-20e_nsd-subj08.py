# Copyright (c) mmbrain contributors. All rights reserved.
# Table 2 "Swin-S / Brainformer" (NSD PCC): the frozen Brainformer-pretrained Swin-S (mmpretrain's SwinTransformer)
# and the voxel readout; usage as in voxel-readout_convnext-s-brainformer-pre_1xb64-20e_nsd-subj08.py.
_base_ = './voxel-readout_convnext-s-brainformer-pre_1xb64-20e_nsd-subj08.py'

checkpoint_file = 'checkpoints/brainformer_swin-s_nsd_backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='small',
        img_size=224,
        out_indices=(0, 1, 2, 3),
        frozen_stages=3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')))

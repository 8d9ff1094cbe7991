# Copyright (c) mmbrain contributors. All rights reserved.
# Mask R-CNN FPN 1x on COCO with a Brainformer-pretrained Swin-S (paper Sec. 4.3, Table 1 "Swin-S / Brainformer").
# mmpretrain's SwinTransformer (not mmdet's, whose weights are named differently) so the converted Brainformer
# backbone loads as it is. Usage as in mask-rcnn_convnext-s-brainformer-pre_fpn_8xb2-1x_coco.py.
_base_ = './mask-rcnn_convnext-s-brainformer-pre_fpn_8xb2-1x_coco.py'

checkpoint_file = 'checkpoints/brainformer_swin-s_nsd_backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='small',
        img_size=224,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        pad_small_map=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))

# Copyright (c) mmbrain contributors. All rights reserved.
# UperNet on the synthetic NSD world's ADE-style label maps (64 px, 13 classes + "other" ignored as ADE's 0) with
# the Brainformer-pretrained ConvNeXt-mini of configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py.
# A CPU-sized twin of upernet_convnext-s-brainformer-pre_8xb2-160k_ade20k-512x512.py: narrow heads, BN instead of
# SyncBN (one process), 2k iterations.
#   python tools/model_converters/brainformer_to_backbone.py \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/epoch_4.pth \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth
#   python .venv/lib/python3.11/site-packages/mmseg/.mim/tools/train.py \
#       configs/seg/upernet_convnext-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py  # or tools/train.py
# Other data / checkpoint: --cfg-options train_dataloader.dataset.data_root=DIR val_dataloader.dataset.data_root=DIR
#   model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    'mmseg::_base_/models/upernet_convnext.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py'
]

custom_imports = dict(imports=['mmpretrain.models', 'mmbrain'], allow_failed_imports=False)
# mmbrain's runner, also under mmdet's / mmseg's own tools: safe checkpoint loading, checked pretrained weights,
# gloo on CPUs (mmbrain.engine.BrainRunner); checkpoints written atomically (mmbrain.engine.checkpoint_backend).
runner_type = 'mmbrain.BrainRunner'

# Backbone-only checkpoint written by tools/model_converters/brainformer_to_backbone.py.
checkpoint_file = 'work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth'
channels = [16, 32, 64, 128]  # ConvNeXt-mini, as pretrained
num_classes = 13
crop_size = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process: no SyncBN

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=channels),
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(
        in_channels=channels, channels=64, pool_scales=(1, 2, 3), num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=channels[2], channels=32, num_classes=num_classes, norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))

data_root = 'data/synthetic_nsd/ade'
metainfo = dict(classes=('wall', 'floor', 'ceiling', 'window', 'sky', 'ground', 'building', 'face', 'body', 'word',
                         'disk', 'square', 'triangle'))
dataset = dict(
    type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.png', seg_map_suffix='.png',
    reduce_zero_label=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=crop_size, ratio_range=(1.0, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# batch >= 2: UperNet's pooling pyramid runs BatchNorm on 1x1 maps
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        _delete_=True, **dataset, pipeline=train_pipeline,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(
        _delete_=True, **dataset, pipeline=test_pipeline,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
test_dataloader = val_dataloader

max_iters = 2000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0004, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', power=1.0, begin=100, end=max_iters, eta_min=0.0, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=500)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=500, max_keep_ckpts=1, backend_args=dict(backend='mmbrain_atomic_local')),
    visualization=dict(type='SegVisualizationHook', draw=False))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))

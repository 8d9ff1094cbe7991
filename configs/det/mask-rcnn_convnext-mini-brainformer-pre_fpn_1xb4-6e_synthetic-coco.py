# Copyright (c) mmbrain contributors. All rights reserved.
# Mask R-CNN FPN on the synthetic NSD world's COCO-format instances (64 px, 6 categories), NSD stimuli excluded from
# training as in the paper, with the Brainformer-pretrained ConvNeXt-mini of
# configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py. A CPU-sized twin of
# mask-rcnn_convnext-s-brainformer-pre_fpn_8xb2-1x_coco.py (narrow heads, fewer proposals, 6 epochs).
#   python tools/dataset_converters/coco_exclude_nsd.py data/synthetic_nsd/coco/annotations/instances_train2017.json \
#       data/synthetic_nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv \
#       data/synthetic_nsd/coco/annotations/instances_train2017_nsd-excluded.json \
#       --val data/synthetic_nsd/coco/annotations/instances_val2017.json \
#       data/synthetic_nsd/coco/annotations/instances_val2017_nsd-excluded.json
#   python tools/model_converters/brainformer_to_backbone.py \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/epoch_4.pth \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth
#   python .venv/lib/python3.11/site-packages/mmdet/.mim/tools/train.py \
#       configs/det/mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py  # or tools/train.py
# Other data / checkpoint: --cfg-options train_dataloader.dataset.data_root=DIR/ val_dataloader.dataset.data_root=DIR/
#   val_evaluator.0.ann_file=DIR/annotations/instances_val2017.json
#   val_evaluator.1.ann_file=DIR/annotations/instances_val2017_nsd-excluded.json model.backbone.init_cfg.checkpoint=PATH
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(
    imports=['mmpretrain.models', 'mmbrain', 'mmbrain.evaluation.metrics.coco_subset'], allow_failed_imports=False)
# mmbrain's runner, also under mmdet's / mmseg's own tools: safe checkpoint loading, checked pretrained weights,
# gloo on CPUs (mmbrain.engine.BrainRunner); checkpoints written atomically (mmbrain.engine.checkpoint_backend).
runner_type = 'mmbrain.BrainRunner'

# Backbone-only checkpoint written by tools/model_converters/brainformer_to_backbone.py.
checkpoint_file = 'work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth'
channels = [16, 32, 64, 128]  # ConvNeXt-mini, as pretrained
width = 64  # FPN / head width (256 at full scale)
num_classes = 6

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=channels),
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=channels, out_channels=width),
    rpn_head=dict(
        in_channels=width, feat_channels=width,
        # objects of 6-40 px in 64 px images: anchors of 8-128 px
        anchor_generator=dict(scales=[2])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, fc_out_channels=128, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=20)))

data_root = 'data/synthetic_nsd/coco/'
metainfo = dict(classes=('face', 'body', 'word', 'disk', 'square', 'triangle'))
img_scale = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train2017_nsd-excluded.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Standard val2017 (coco/...) and val2017 without the NSD images (coco-wo-nsd/...), from one inference run.
val_evaluator = [
    dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val2017.json', metric=['bbox', 'segm'],
         prefix='coco'),
    dict(type='mmbrain.ImageSubsetCocoMetric', ann_file=data_root + 'annotations/instances_val2017_nsd-excluded.json',
         metric=['bbox', 'segm'], prefix='coco-wo-nsd'),
]
test_evaluator = val_evaluator

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[4, 5], gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0004, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=2, max_keep_ckpts=1, backend_args=dict(backend='mmbrain_atomic_local')))

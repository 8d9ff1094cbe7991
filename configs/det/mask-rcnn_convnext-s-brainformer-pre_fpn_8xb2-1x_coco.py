# Copyright (c) mmbrain contributors. All rights reserved.
# Mask R-CNN FPN 1x on COCO with a Brainformer-pretrained ConvNeXt-S (paper Sec. 4.3, Table 1 "ConvNext-S /
# Brainformer"). Runs with mmdet's own tools/train.py or mmbrain's:
#   python tools/model_converters/brainformer_to_backbone.py work_dirs/<pretrain>/epoch_100.pth \
#       checkpoints/brainformer_convnext-s_nsd_backbone.pth
#   python tools/dataset_converters/coco_exclude_nsd.py data/coco/annotations/instances_train2017.json \
#       data/nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv \
#       data/coco/annotations/instances_train2017_nsd-excluded.json \
#       --val data/coco/annotations/instances_val2017.json data/coco/annotations/instances_val2017_nsd-excluded.json
#   bash tools/dist_train.sh configs/det/mask-rcnn_convnext-s-brainformer-pre_fpn_8xb2-1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=checkpoints/brainformer_convnext-s_nsd_backbone.pth
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(
    imports=['mmpretrain.models', 'mmbrain', 'mmbrain.evaluation.metrics.coco_subset'], allow_failed_imports=False)
# mmbrain's runner, also under mmdet's / mmseg's own tools: safe checkpoint loading, checked pretrained weights,
# gloo on CPUs (mmbrain.engine.BrainRunner); checkpoints written atomically (mmbrain.engine.checkpoint_backend).
runner_type = 'mmbrain.BrainRunner'
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='mmbrain_atomic_local')))

# Backbone-only checkpoint written by tools/model_converters/brainformer_to_backbone.py.
checkpoint_file = 'checkpoints/brainformer_convnext-s_nsd_backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='small',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))

# The paper removes the images NSD showed from COCO training to avoid leakage
# (tools/dataset_converters/coco_exclude_nsd.py).
train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train2017_nsd-excluded.json'))
# Leakage the other way: NSD (so pretraining) also showed val2017 images. One inference run, scored on standard
# val2017 (coco/..., the paper's number) and on val2017 without the NSD images (coco-wo-nsd/...).
val_evaluator = [
    dict(type='CocoMetric', ann_file='data/coco/annotations/instances_val2017.json', metric=['bbox', 'segm'],
         prefix='coco'),
    dict(type='mmbrain.ImageSubsetCocoMetric', ann_file='data/coco/annotations/instances_val2017_nsd-excluded.json',
         metric=['bbox', 'segm'], prefix='coco-wo-nsd'),
]
test_evaluator = val_evaluator

# AdamW as mmdet trains its Swin / ConvNeXt Mask R-CNNs; no weight decay on norms and position tables.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))

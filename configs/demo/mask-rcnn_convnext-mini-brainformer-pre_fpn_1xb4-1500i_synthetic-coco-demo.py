# Copyright (c) mmbrain contributors. All rights reserved.
# Mask R-CNN on the synthetic COCO world for the end-to-end demo: 1500 iterations of batch 4 (about 7 minutes on
# one core), validated at the end. Box AP takes off only after the model has seen about 3,000-4,000 images (0.07-0.11
# for random init after 1000 iterations), so this is the shortest schedule at which the random-init baseline is
# well above 0.1 (docs/evaluation.md).
_base_ = '../det/mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py'

max_iters = 1500
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1200], gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False), checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)

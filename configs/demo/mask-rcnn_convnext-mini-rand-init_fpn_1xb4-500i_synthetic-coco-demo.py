# Copyright (c) mmbrain contributors. All rights reserved.
# Mask R-CNN on the synthetic COCO world, cut to 500 iterations for the end-to-end demo; validated at the end.
_base_ = '../det/mask-rcnn_convnext-mini-rand-init_fpn_1xb4-6e_synthetic-coco.py'

max_iters = 500
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[400], gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=10, log_metric_by_epoch=False), checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)

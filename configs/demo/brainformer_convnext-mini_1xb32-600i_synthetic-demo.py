# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer pretraining on the synthetic NSD world, cut to 600 iterations for the end-to-end demo; retrieval
# validated every 150 iterations on the shared images of subjects 1-2. The guidance loss is the default of
# configs/_base_/models/brainformer_convnext-s.py, negatives='rois+samples' (Eq. 6 as printed, negatives='rois', is
# the ablation ./brainformer_convnext-mini_bfg-printed_1xb32-600i_synthetic-demo.py; docs/guidance_loss.md).
_base_ = '../pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'

max_iters = 600
warmup_iters = 20
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(dataset=dict(subjects=[1, 2]))
test_dataloader = val_dataloader
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=150)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=1e-5, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
default_hooks = dict(
    logger=dict(interval=10, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
custom_hooks = [dict(type='LossGradientNormHook', interval=10)]

# Copyright (c) mmbrain contributors. All rights reserved.
# UperNet on the synthetic ADE world, cut to 300 iterations for the end-to-end demo; validated at the end.
_base_ = '../seg/upernet_convnext-mini-brainformer-pre_1xb8-2k_synthetic-ade-64x64.py'

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=15),
    dict(type='PolyLR', power=1.0, begin=15, end=max_iters, eta_min=0.0, by_epoch=False),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters))

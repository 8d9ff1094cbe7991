# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer on the synthetic NSD world at CPU scale (seconds per iteration on 2 cores): a 4-stage ConvNeXt of
# one or two blocks per stage (16-128 channels), d_r=64, Conv1D k=16 s=8, windows w=16 s=8, h=2, 64 px images.
# Same losses, schedule shape and retrieval validation as the paper config.
#   python tools/dataset_converters/make_synthetic_nsd.py --out data/synthetic_nsd
#   python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/synthetic_nsd --out data/synthetic_nsd/mmbrain
#   python tools/train.py configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py
_base_ = [
    '../_base_/models/brainformer_convnext-s.py',
    '../_base_/datasets/synthetic_nsd.py',
    '../_base_/schedules/brainformer_adamw-coslr-100e.py',
    '../_base_/default_runtime.py',
]
max_epochs = 4

model = dict(
    backbone=dict(arch=dict(_delete_=True, depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]), drop_path_rate=0.),
    backbone_out_dims=128,
    fmri_encoder=dict(embed_dims=64, num_heads=4, conv_kernel=16, conv_stride=8, window_size=16, window_stride=8))

# a tiny model trained briefly takes a larger learning rate than the paper's 1e-4
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
auto_scale_lr = dict(base_batch_size=32)

val_evaluator = dict(type='BrainRetrievalMetric', topk=(1, 5), match_by='nsd_id')
test_evaluator = val_evaluator

default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=1, max_keep_ckpts=2))
# backbone_grad_bfg / backbone_grad_con in the log: the norm of the gradient each loss alone sends to the backbone
custom_hooks = [dict(type='LossGradientNormHook', interval=20)]
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
# the output norms of stages 0-2 are kept for downstream transfer but take no part in the loss
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)

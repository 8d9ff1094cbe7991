# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer pretraining schedule (Sec. 4.2): AdamW, lr 1e-4 for 8 GPUs x 64, cosine decay, 100 epochs.
# Not stated in the paper, chosen here: weight decay 0.05 (none on norms, biases and the temperature), one
# epoch of linear warm-up before the cosine, and eta_min 1e-6.
# GPU switches (docs/performance.md): bf16 autocast is type='AmpOptimWrapper' with dtype='bfloat16' (what
# tools/train.py --amp sets; mmengine's AmpOptimWrapper needs a GPU); fused=True runs AdamW's update as one
# kernel over all parameters (CUDA).
# The constructor merges mmengine's one-group-per-parameter into one group per set of options (same update).
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='mmbrain.GroupedOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05, fused=False),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., custom_keys={'logit_scale': dict(decay_mult=0.)}),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=99, eta_min=1e-6, by_epoch=True, begin=1, end=100,
         convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# lr 1e-4 is for 8 GPUs x 64 samples (`tools/train.py --auto-scale-lr` rescales it for other batch sizes).
auto_scale_lr = dict(base_batch_size=512, enable=False)

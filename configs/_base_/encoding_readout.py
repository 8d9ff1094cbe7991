# Copyright (c) mmbrain contributors. All rights reserved.
# Brain response prediction (paper Sec. 4.5, Table 2 "NSD"), written once for every encoding config: the held-out
# subject's splits, the frozen multi-level backbone and its voxel readout, the metric and the schedule. A config
# lists it after its world's dataset base and adds the subject file, the backbone and the readout's channels:
#   _base_ = ['../_base_/datasets/nsd.py', '../_base_/encoding_readout.py']
# No test leakage (docs/evaluation.md): the checkpoint is chosen on a validation split drawn (deterministically) from
# the subject's own non-shared images; the shared1000 test images are scored once, by tools/test.py at the end.
_base_ = './default_runtime.py'

held_out_subject = 8
val_fraction = 0.1
# NSDDataset arguments of each split (the config adds its world's encoding_pipeline)
encoding_splits = dict(
    train=dict(subjects=[held_out_subject], val_fraction=val_fraction),
    val=dict(subjects=[held_out_subject], split='val', val_fraction=val_fraction),
    test=dict(subjects=[held_out_subject], split='test'))

model = dict(
    type='BrainResponsePredictor',
    data_preprocessor=dict(type='BrainDataPreprocessor'),
    backbone=dict(
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', prefix='backbone.')),
    head=dict(type='VoxelReadoutHead', dropout=0.1))

val_evaluator = dict(type='BrainEncodingMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, eta_min=1e-5, by_epoch=True, begin=0, end=20,
                        convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(interval=5, save_best='nsd/pearson_mean', rule='greater', max_keep_ckpts=1))

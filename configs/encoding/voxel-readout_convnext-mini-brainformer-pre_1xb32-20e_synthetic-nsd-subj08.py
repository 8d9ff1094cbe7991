# Copyright (c) mmbrain contributors. All rights reserved.
# Brain response prediction (paper Sec. 4.5) on the synthetic NSD world's held-out subject 8: the frozen
# Brainformer-pretrained ConvNeXt-mini of configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py and
# a voxel readout of its multi-level pooled features, trained on the subject's non-shared images and evaluated on
# the shared ones (NSD's shared1000 protocol, repetitions averaged, noise ceiling from the repetitions). CPU-sized.
#   python tools/train.py configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py
#   python tools/model_converters/brainformer_to_backbone.py \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/epoch_4.pth \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth
#   python tools/train.py configs/encoding/voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py
# Another backbone: --cfg-options model.backbone.init_cfg.checkpoint=PATH. Another subject: subjects and
# subject_file (train/val/test dataloaders, model.head.num_voxels, val_evaluator / test_evaluator).
_base_ = ['../_base_/datasets/synthetic_nsd.py', '../_base_/default_runtime.py']

held_out_subject = 8
subject_file = 'data/synthetic_nsd/mmbrain/subj08.h5'
checkpoint_file = 'work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth'

pipeline = [
    dict(type='LoadNSDStimulus', img_size={{_base_.img_size}}),
    dict(type='LoadNSDResponses', with_xyz=False),
    dict(type='PackBrainInputs'),
]
# No test leakage (docs/evaluation.md): the checkpoint is chosen on a validation split drawn (deterministically) from
# the subject's own non-shared images; the shared1000 test images are scored once, by tools/test.py at the end.
val_fraction = 0.1
train_dataloader = dict(dataset=dict(subjects=[held_out_subject], val_fraction=val_fraction, pipeline=pipeline))
val_dataloader = dict(
    dataset=dict(subjects=[held_out_subject], split='val', val_fraction=val_fraction, pipeline=pipeline))
test_dataloader = dict(dataset=dict(subjects=[held_out_subject], split='test', pipeline=pipeline))

model = dict(
    type='BrainResponsePredictor',
    data_preprocessor=dict(type='BrainDataPreprocessor'),
    backbone=dict(
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]),
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    head=dict(
        type='VoxelReadoutHead', in_channels=[16, 32, 64, 128], num_voxels=subject_file, pool_size=2, dropout=0.1))

val_evaluator = dict(type='BrainEncodingMetric', subject_file=subject_file)
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, eta_min=1e-5, by_epoch=True, begin=0, end=20,
                        convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=5, save_best='nsd/pearson_mean', rule='greater', max_keep_ckpts=1))

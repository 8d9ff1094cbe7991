# Copyright (c) mmbrain contributors. All rights reserved.
# Brain response prediction on NSD (paper Sec. 4.5, Table 2 "NSD PCC", ConvNext-S / Brainformer): the frozen
# Brainformer-pretrained ConvNeXt-S (pretrained on subjects 1-7) and a voxel readout of its multi-level pooled
# features, fitted on held-out subject 8's single trials of its own images and evaluated on the shared1000 images
# (repetitions averaged; Pearson r per voxel, per ROI group / sub-ROI / overall, Algonauts score).
#   python tools/model_converters/brainformer_to_backbone.py work_dirs/<pretrain>/epoch_100.pth \
#       checkpoints/brainformer_convnext-s_nsd_backbone.pth
#   python tools/train.py configs/encoding/voxel-readout_convnext-s-brainformer-pre_1xb64-20e_nsd-subj08.py
# Another checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = ['../_base_/datasets/nsd.py', '../_base_/default_runtime.py']

held_out_subject = 8
subject_file = 'data/nsd/mmbrain/subj08.h5'
checkpoint_file = 'checkpoints/brainformer_convnext-s_nsd_backbone.pth'

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
        arch='small',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    # pool_size=1: 1440 features per image, ~30k voxels; 2 keeps a 2x2 retinotopy at 4x the readout size.
    head=dict(
        type='VoxelReadoutHead', in_channels=[96, 192, 384, 768], num_voxels=subject_file, pool_size=1, dropout=0.1))

val_evaluator = dict(type='BrainEncodingMetric', subject_file=subject_file)
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, eta_min=1e-5, by_epoch=True, begin=0, end=20,
                        convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(interval=5, save_best='nsd/pearson_mean', rule='greater', max_keep_ckpts=1))

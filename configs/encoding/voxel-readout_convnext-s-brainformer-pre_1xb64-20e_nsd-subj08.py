# Copyright (c) mmbrain contributors. All rights reserved.
# Brain response prediction on NSD (paper Sec. 4.5, Table 2 "NSD PCC", ConvNext-S / Brainformer): the frozen
# Brainformer-pretrained ConvNeXt-S (pretrained on subjects 1-7) and a voxel readout of its multi-level pooled
# features, fitted on held-out subject 8's single trials of its own images and evaluated on the shared1000 images
# (repetitions averaged; Pearson r per voxel, per ROI group / sub-ROI / overall, Algonauts score).
#   python tools/model_converters/brainformer_to_backbone.py work_dirs/<pretrain>/epoch_100.pth \
#       checkpoints/brainformer_convnext-s_nsd_backbone.pth
#   python tools/train.py configs/encoding/voxel-readout_convnext-s-brainformer-pre_1xb64-20e_nsd-subj08.py
# Another checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = ['../_base_/datasets/nsd.py', '../_base_/encoding_readout.py']

subject_file = 'data/nsd/mmbrain/subj08.h5'
checkpoint_file = 'checkpoints/brainformer_convnext-s_nsd_backbone.pth'

pipeline = _base_.encoding_pipeline
train_dataloader = dict(dataset=dict(**_base_.encoding_splits.train, pipeline=pipeline))
val_dataloader = dict(dataset=dict(**_base_.encoding_splits.val, pipeline=pipeline))
test_dataloader = dict(dataset=dict(**_base_.encoding_splits.test, pipeline=pipeline))

model = dict(
    backbone=dict(type='mmpretrain.ConvNeXt', arch='small', init_cfg=dict(checkpoint=checkpoint_file)),
    # pool_size=1: 1440 features per image, ~30k voxels; 2 keeps a 2x2 retinotopy at 4x the readout size.
    head=dict(in_channels=[96, 192, 384, 768], num_voxels=subject_file, pool_size=1))

val_evaluator = dict(subject_file=subject_file)
test_evaluator = val_evaluator

# lr 1e-3 is for one GPU x 64 images; on more GPUs `tools/train.py --auto-scale-lr` scales it linearly
auto_scale_lr = dict(base_batch_size=64, enable=False)

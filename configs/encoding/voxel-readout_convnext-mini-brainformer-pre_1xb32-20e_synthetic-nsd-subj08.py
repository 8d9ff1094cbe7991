# Copyright (c) mmbrain contributors. All rights reserved.
# Brain response prediction (paper Sec. 4.5) on the synthetic NSD world's held-out subject 8: the frozen
# Brainformer-pretrained ConvNeXt-mini of configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py and
# a voxel readout of its multi-level pooled features, trained on the subject's non-shared images and evaluated on
# the shared ones (NSD's shared1000 protocol, repetitions averaged, noise ceiling from the file's ncsnr). CPU-sized.
#   python tools/train.py configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py
#   python tools/model_converters/brainformer_to_backbone.py \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/epoch_4.pth \
#       work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth
#   python tools/train.py configs/encoding/voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py
# Another backbone: --cfg-options model.backbone.init_cfg.checkpoint=PATH. Another subject: subjects and
# subject_file (train/val/test dataloaders, model.head.num_voxels, val_evaluator / test_evaluator).
_base_ = ['../_base_/datasets/synthetic_nsd.py', '../_base_/encoding_readout.py']

subject_file = 'data/synthetic_nsd/mmbrain/subj08.h5'
checkpoint_file = 'work_dirs/brainformer_convnext-mini_1xb32-coslr-4e_synthetic/backbone.pth'

pipeline = _base_.encoding_pipeline
train_dataloader = dict(dataset=dict(**_base_.encoding_splits.train, pipeline=pipeline))
val_dataloader = dict(dataset=dict(**_base_.encoding_splits.val, pipeline=pipeline))
test_dataloader = dict(dataset=dict(**_base_.encoding_splits.test, pipeline=pipeline))

model = dict(
    backbone=dict(
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]),
        init_cfg=dict(checkpoint=checkpoint_file)),
    head=dict(in_channels=[16, 32, 64, 128], num_voxels=subject_file, pool_size=2))

val_evaluator = dict(subject_file=subject_file)
test_evaluator = val_evaluator

default_hooks = dict(logger=dict(interval=20))

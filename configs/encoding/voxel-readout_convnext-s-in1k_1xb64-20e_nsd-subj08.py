# Copyright (c) mmbrain contributors. All rights reserved.
# Table 2 (NSD), the "Random init" row read as "the same starting point without brain pretraining" when the
# pretrainings start from ImageNet-1k: the backbone of
#   voxel-readout_convnext-s-brainformer-pre_1xb64-20e_nsd-subj08.py
# initialised with mmpretrain's ImageNet-1k weights and no brain pretraining (docs/evaluation.md, "Backbone
# initialisation").
_base_ = ['./voxel-readout_convnext-s-brainformer-pre_1xb64-20e_nsd-subj08.py', '../_base_/models/imagenet_init.py']

checkpoint_file = {{_base_.convnext_s_in1k_init.checkpoint}}
model = dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint_file)))

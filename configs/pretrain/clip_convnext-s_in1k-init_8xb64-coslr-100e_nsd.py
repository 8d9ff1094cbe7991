# Copyright (c) mmbrain contributors. All rights reserved.
# The CLIP baseline starting from mmpretrain's ImageNet-1k weights, the twin of
#   brainformer_convnext-s_in1k-init_8xb64-coslr-100e_nsd.py;
# its backbone feeds the *convnext-s-in1k-clip-pre* downstream configs (docs/evaluation.md, "Backbone initialisation").
_base_ = ['./clip_convnext-s_8xb64-coslr-100e_nsd.py', '../_base_/models/imagenet_init.py']

model = dict(backbone=dict(init_cfg={{_base_.convnext_s_in1k_init}}))

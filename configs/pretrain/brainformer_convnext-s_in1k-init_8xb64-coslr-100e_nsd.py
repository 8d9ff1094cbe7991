# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer pretraining of ConvNeXt-S starting from mmpretrain's ImageNet-1k weights instead of random ones;
# everything else as brainformer_convnext-s_8xb64-coslr-100e_nsd.py.
# Its backbone feeds the *convnext-s-in1k-brainformer-pre* downstream configs (docs/evaluation.md, "Backbone
# initialisation"):
#   python tools/model_converters/brainformer_to_backbone.py work_dirs/<this config>/epoch_100.pth \
#       checkpoints/brainformer_convnext-s_in1k-init_nsd_backbone.pth
_base_ = ['./brainformer_convnext-s_8xb64-coslr-100e_nsd.py', '../_base_/models/imagenet_init.py']

model = dict(backbone=dict(init_cfg={{_base_.convnext_s_in1k_init}}))

# Copyright (c) mmbrain contributors. All rights reserved.
# ImageNet-1k weights of the paper's two backbones, named as mmpretrain names them (its model zoo metafiles; the
# URLs are those mmpretrain lists for the names, checked by tests/test_configs/test_backbone_init.py without
# network). The `*in1k*` configs start from these instead of random weights: docs/evaluation.md, "Backbone
# initialisation: two readings of Tables 1-2". mmengine downloads them on first use into its cache (torch hub dir);
# offline, put the file there or pass --cfg-options model.backbone.init_cfg.checkpoint=PATH.
# The classifiers' checkpoints hold backbone.* (kept, prefix='backbone.') and head.* (ignored) keys, and one output
# norm (norm3): the norms of stages 0-2 that the multi-level downstream backbones add start from their default.
in1k_model_names = dict(convnext_s='convnext-small_32xb128_in1k', swin_s='swin-small_16xb64_in1k')
convnext_s_in1k_init = dict(
    type='Pretrained',
    checkpoint='https://download.openmmlab.com/mmclassification/v0/convnext/'
    'convnext-small_32xb128_in1k_20221207-4ab7052c.pth',
    prefix='backbone.')
swin_s_in1k_init = dict(
    type='Pretrained',
    checkpoint='https://download.openmmlab.com/mmclassification/v0/swin-transformer/'
    'swin_small_224_b16x64_300e_imagenet_20210615_110219-7f9d988b.pth',
    prefix='backbone.')

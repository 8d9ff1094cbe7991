# Copyright (c) mmbrain contributors. All rights reserved.
# UperNet on ADE20K (160k, 512x512) with a Brainformer-pretrained Swin-S (paper Sec. 4.4, Table 2 "Swin-S /
# Brainformer"), on mmseg's own Swin-S recipe, with mmpretrain's SwinTransformer (whose weight names the converted
# Brainformer backbone has). Usage as in upernet_convnext-s-brainformer-pre_8xb2-160k_ade20k-512x512.py.
_base_ = 'mmseg::swin/swin-small-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'

custom_imports = dict(imports=['mmpretrain.models', 'mmbrain'], allow_failed_imports=False)
# mmbrain's runner, also under mmdet's / mmseg's own tools: safe checkpoint loading, checked pretrained weights,
# gloo on CPUs (mmbrain.engine.BrainRunner); checkpoints written atomically (mmbrain.engine.checkpoint_backend).
runner_type = 'mmbrain.BrainRunner'
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='mmbrain_atomic_local')))

# Backbone-only checkpoint written by tools/model_converters/brainformer_to_backbone.py.
checkpoint_file = 'checkpoints/brainformer_swin-s_nsd_backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='small',
        img_size=224,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        pad_small_map=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')))

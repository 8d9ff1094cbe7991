# Copyright (c) mmbrain contributors. All rights reserved.
# UperNet on ADE20K (160k iterations, 512x512) with a Brainformer-pretrained ConvNeXt-S (paper Sec. 4.4, Table 2
# "ConvNext-S / Brainformer"), on mmseg's own ConvNeXt-S recipe. Runs with mmseg's tools/train.py or mmbrain's:
#   python tools/model_converters/brainformer_to_backbone.py work_dirs/<pretrain>/epoch_100.pth \
#       checkpoints/brainformer_convnext-s_nsd_backbone.pth
#   bash tools/dist_train.sh configs/seg/upernet_convnext-s-brainformer-pre_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=checkpoints/brainformer_convnext-s_nsd_backbone.pth
_base_ = 'mmseg::convnext/convnext-small_upernet_8xb2-amp-160k_ade20k-512x512.py'

custom_imports = dict(imports=['mmpretrain.models', 'mmbrain'], allow_failed_imports=False)
# mmbrain's runner, also under mmdet's / mmseg's own tools: safe checkpoint loading, checked pretrained weights,
# gloo on CPUs (mmbrain.engine.BrainRunner); checkpoints written atomically (mmbrain.engine.checkpoint_backend).
runner_type = 'mmbrain.BrainRunner'
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='mmbrain_atomic_local')))

# Backbone-only checkpoint written by tools/model_converters/brainformer_to_backbone.py.
checkpoint_file = 'checkpoints/brainformer_convnext-s_nsd_backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='small',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')))

# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer with a ConvNeXt-S image backbone (Sec. 3.2, 4.2): Conv1D k=32 s=16, d_r=768, windows w=64 s=32,
# h=2 levels, 3D voxel embedding, six ROI groups, lambda_con = lambda_bfg = 0.5.
# The backbone returns all four stages (out_indices=(0, 1, 2, 3)) so that the checkpoint holds the output norms
# that downstream Mask R-CNN / UperNet load (docs/architecture.md); the pretrainer pools the last one. Stochastic
# depth follows mmpretrain's ImageNet recipes (ConvNeXt-S 0.4, Swin-S 0.3); the paper does not state it.
model = dict(
    type='BrainformerPretrainer',
    data_preprocessor=dict(
        type='BrainDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(
        type='mmpretrain.ConvNeXt', arch='small', out_indices=(0, 1, 2, 3), gap_before_final_norm=True,
        drop_path_rate=0.4),
    backbone_out_dims=768,
    fmri_encoder=dict(
        type='BrainformerEncoder',
        roi_names=['prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams'],
        embed_dims=768,
        num_heads=12,
        conv_kernel=32,
        conv_stride=16,
        window_size=64,
        window_stride=32,
        num_levels=2,
        pos_embed=dict(type='Voxel3DEmbedding', coord_scale=0.01)),
    contrastive_loss=dict(type='BrainContrastiveLoss', loss_weight=0.5, init_temperature=0.07),
    # negatives='rois' is Eq. 6 exactly as printed (the other ROIs of the same sample): it is solved without looking at
    # the image and then sends the backbone almost no gradient. The default keeps those negatives and adds every ROI
    # of the other samples of the all-process batch (docs/guidance_loss.md: the measurements and why this default).
    guidance_loss=dict(
        type='BrainFMRIGuidanceLoss', loss_weight=0.5, normalize=True, temperature=0.1, negatives='rois+samples'),
)

# Copyright (c) mmbrain contributors. All rights reserved.
# The spatial readout twin of
#   voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py:
# the same backbone, data and schedule with a factorised spatial x feature readout (FactorizedReadoutHead: per
# voxel a 8 x 8 mask over the image and one weight per channel) instead of the pooled one, so that
# retinotopic voxels read their own place of the image (docs/evaluation.md, "The readout").
# grid_size=8: 64 px ConvNeXt-mini levels of 16, 8, 4, 2 a side.
_base_ = './voxel-readout_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py'

model = dict(head=dict(_delete_=True, type='FactorizedReadoutHead', in_channels=[16, 32, 64, 128],
                       num_voxels={{_base_.subject_file}}, grid_size=8, dropout=0.1))

# Copyright (c) mmbrain contributors. All rights reserved.
# The spatial readout twin of
#   voxel-readout_swin-s-rand-init_1xb64-20e_nsd-subj08.py:
# the same backbone, data and schedule with a factorised spatial x feature readout (FactorizedReadoutHead: per
# voxel a 7 x 7 mask over the image and one weight per channel) instead of the pooled one, so that
# retinotopic voxels read their own place of the image (docs/evaluation.md, "The readout").
# grid_size=7: the last Swin-S stage at 224 px.
_base_ = './voxel-readout_swin-s-rand-init_1xb64-20e_nsd-subj08.py'

model = dict(head=dict(_delete_=True, type='FactorizedReadoutHead', in_channels=[96, 192, 384, 768],
                       num_voxels={{_base_.subject_file}}, grid_size=7, dropout=0.1))

# Copyright (c) mmbrain contributors. All rights reserved.
# The spatial readout twin of
#   voxel-readout_convnext-mini-brainformer-pre_1xb32-4e_synthetic-nsd-subj08-demo.py
# (whose readout pools each level to a 2 x 2 grid): the same backbone, data and 4-epoch schedule with the factorised
# spatial x feature readout of
#   ../encoding/voxel-readout-spatial_convnext-mini-brainformer-pre_1xb32-20e_synthetic-nsd-subj08.py.
_base_ = './voxel-readout_convnext-mini-brainformer-pre_1xb32-4e_synthetic-nsd-subj08-demo.py'

model = dict(head=dict(_delete_=True, type='FactorizedReadoutHead', in_channels=[16, 32, 64, 128],
                       num_voxels={{_base_.subject_file}}, grid_size=8, dropout=0.1))

# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "fMRI Feature Encoding (Linear)": each ROI's voxel vector through one Linear layer, then the same ROI
# transformer. num_voxels must cover the largest voxel count of every training subject (the encoder raises a
# clear error otherwise; tools/analysis_tools/get_flops.py --h5 data/nsd/mmbrain/subjXX.h5 prints the counts).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(
    fmri_encoder=dict(
        _delete_=True,
        type='LinearFMRIEncoder',
        roi_names=['prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams'],
        num_voxels={
            'prf-visualrois': 12000,
            'floc-bodies': 12000,
            'floc-faces': 8000,
            'floc-places': 8000,
            'floc-words': 10000,
            'streams': 40000
        },
        embed_dims=768,
        num_heads=12))

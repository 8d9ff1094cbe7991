# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "w/o Brain fMRI Guidance Loss": contrastive loss only (the ROI projections are not built).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(guidance_loss=None)

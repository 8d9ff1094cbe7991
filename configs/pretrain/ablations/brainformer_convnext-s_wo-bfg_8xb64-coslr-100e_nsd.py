# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "w/o Brain fMRI Guidance Loss": contrastive loss only (the ROI projections are not built), at the paper's
# lambda_con = 0.5; ./brainformer_convnext-s_wo-bfg-lcon1.0_8xb64-coslr-100e_nsd.py keeps the alignment weight at 1.0.
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(guidance_loss=None)

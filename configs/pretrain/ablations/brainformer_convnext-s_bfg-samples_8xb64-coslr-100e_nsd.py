# Copyright (c) mmbrain contributors. All rights reserved.
# Brain fMRI Guidance Loss with negatives across samples: each image ROI feature against the same ROI of every
# sample of the all-process batch (docs/guidance_loss.md).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(guidance_loss=dict(negatives='samples'))

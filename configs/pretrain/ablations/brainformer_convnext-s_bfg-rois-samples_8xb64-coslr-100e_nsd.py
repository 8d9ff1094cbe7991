# Copyright (c) mmbrain contributors. All rights reserved.
# Brain fMRI Guidance Loss with negatives over every ROI of every sample of the all-process batch (Eq. 6's
# denominator extended across samples; docs/guidance_loss.md).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(guidance_loss=dict(negatives='rois+samples'))

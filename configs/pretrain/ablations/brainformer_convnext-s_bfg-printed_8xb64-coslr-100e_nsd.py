# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "Brain fMRI Guidance Loss" as Eq. 6 is printed: the negatives of each image ROI feature are the other
# ROIs of the same sample (docs/guidance_loss.md: solved without the image, then no gradient to the backbone).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(guidance_loss=dict(negatives='rois'))

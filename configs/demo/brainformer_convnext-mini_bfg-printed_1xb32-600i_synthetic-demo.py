# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 ablation at demo scale: the Brain fMRI Guidance Loss exactly as Eq. 6 is printed (negatives = the other
# ROIs of the same sample). It is solved without looking at the image and then sends the backbone almost no
# gradient (backbone_grad_bfg in the log; docs/guidance_loss.md).
_base_ = './brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'
model = dict(guidance_loss=dict(negatives='rois'))

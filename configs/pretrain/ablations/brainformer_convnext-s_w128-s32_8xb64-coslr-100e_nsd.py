# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3/4: Multi-scale fMRI Transformer windows w=128, stride s=32 (the main config has w=64, s=32).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(fmri_encoder=dict(window_size=128, window_stride=32))

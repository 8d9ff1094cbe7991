# Copyright (c) mmbrain contributors. All rights reserved.
# Algorithm 1 with the printed window count (the loop i = 0..L/s): for 20 000 voxels the levels hold 1249, 40 and 2
# tokens instead of 1249, 39 and 1 (the default window_count='cover'); configs/pretrain/README.md, Table 3 w/s.
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(fmri_encoder=dict(window_count='printed'))

# Copyright (c) mmbrain contributors. All rights reserved.
# No spatial embedding at all: Conv1D features alone (a lower bound for the Table 3 "pos embed" rows).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(fmri_encoder=dict(pos_embed=None))

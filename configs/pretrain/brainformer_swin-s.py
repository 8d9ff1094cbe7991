# Copyright (c) mmbrain contributors. All rights reserved.
# Short name of brainformer_swin-s_8xb64-coslr-100e_nsd.py (the paper's Swin-S pretraining).
_base_ = './brainformer_swin-s_8xb64-coslr-100e_nsd.py'

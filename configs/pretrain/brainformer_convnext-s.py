# Copyright (c) mmbrain contributors. All rights reserved.
# Short name of brainformer_convnext-s_8xb64-coslr-100e_nsd.py (the paper's ConvNeXt-S pretraining).
_base_ = './brainformer_convnext-s_8xb64-coslr-100e_nsd.py'

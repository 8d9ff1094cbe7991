# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "pos embed", fixed variant: sine/cosine embedding of the token index instead of the 3D voxel embedding.
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(fmri_encoder=dict(pos_embed=dict(_delete_=True, type='SinusoidalPositionalEmbedding')))

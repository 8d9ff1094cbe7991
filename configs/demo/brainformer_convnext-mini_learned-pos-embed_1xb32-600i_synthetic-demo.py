# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 ablation at demo scale: learned positional embedding in place of the Brain 3D Voxel Embedding.
_base_ = './brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'
model = dict(fmri_encoder=dict(pos_embed=dict(_delete_=True, type='LearnedPositionalEmbedding', max_tokens=4096)))

# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 ablation at demo scale: without the Brain fMRI Guidance Loss (contrastive loss only).
_base_ = './brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'
model = dict(guidance_loss=None)

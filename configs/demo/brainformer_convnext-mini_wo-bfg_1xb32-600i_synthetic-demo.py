# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 ablation at demo scale: without the Brain fMRI Guidance Loss (contrastive loss only, at the main config's
# lambda_con = 0.5); the twin at lambda_con = 1.0 is
#   ./brainformer_convnext-mini_wo-bfg-lcon1.0_1xb32-600i_synthetic-demo.py.
_base_ = './brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'
model = dict(guidance_loss=None)

# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 loss weights: lambda_con = 0.7, lambda_bfg = 0.3 (the main config has 0.5 / 0.5).
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
model = dict(contrastive_loss=dict(loss_weight=0.7), guidance_loss=dict(loss_weight=0.3))

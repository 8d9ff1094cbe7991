# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "w/o Brain fMRI Guidance Loss" with the alignment weight kept: contrastive loss only at lambda_con = 1.0
# (./brainformer_convnext-s_wo-bfg_8xb64-coslr-100e_nsd.py keeps the paper's lambda_con = 0.5; docs/evaluation.md).
_base_ = './brainformer_convnext-s_wo-bfg_8xb64-coslr-100e_nsd.py'
model = dict(contrastive_loss=dict(loss_weight=1.0))

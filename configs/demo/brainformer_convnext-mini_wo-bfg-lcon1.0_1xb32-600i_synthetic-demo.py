# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "w/o Brain fMRI Guidance Loss" with the alignment weight kept: contrastive loss only at lambda_con = 1.0
# (./brainformer_convnext-mini_wo-bfg_1xb32-600i_synthetic-demo.py keeps lambda_con = 0.5 and so halves the total
# image-brain alignment weight; docs/evaluation.md, "The guidance-loss ablation, two ways").
_base_ = './brainformer_convnext-mini_wo-bfg_1xb32-600i_synthetic-demo.py'
model = dict(contrastive_loss=dict(loss_weight=1.0))

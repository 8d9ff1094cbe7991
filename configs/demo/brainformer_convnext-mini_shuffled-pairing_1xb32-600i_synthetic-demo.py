# Copyright (c) mmbrain contributors. All rights reserved.
# Negative control of the brain signal at demo scale: brainformer_convnext-mini_1xb32-600i_synthetic-demo.py
# (same model, losses, schedule, seed, images and responses) with each training row's image paired with the
# response to another image of the same subject (NSDDataset(pairing='shuffled'), a fixed derangement drawn from
# pairing_seed). Validation retrieval stays paired, so it sits at chance when nothing image-specific is learnt;
# downstream, a gain over random init that this control shows too comes from pretraining itself, not the brain.
# Per training seed set both: --cfg-options randomness.seed=N train_dataloader.dataset.pairing_seed=N
_base_ = './brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'

train_dataloader = dict(dataset=dict(pairing='shuffled', pairing_seed={{_base_.randomness.seed}}))

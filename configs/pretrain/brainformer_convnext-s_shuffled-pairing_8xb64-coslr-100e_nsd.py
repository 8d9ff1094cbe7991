# Copyright (c) mmbrain contributors. All rights reserved.
# Negative control of the brain signal on NSD: brainformer_convnext-s_8xb64-coslr-100e_nsd.py (same model, losses,
# schedule, seed, images and responses) with each training row's image paired with the response to another image
# of the same subject (NSDDataset(pairing='shuffled'), a fixed derangement drawn from pairing_seed). Validation
# retrieval on the shared1000 rows stays paired. Downstream, the Brainformer - shuffled difference is what the
# brain signal adds beyond pretraining itself.
#   bash tools/dist_train.sh configs/pretrain/brainformer_convnext-s_shuffled-pairing_8xb64-coslr-100e_nsd.py 8
# Per training seed set both: --cfg-options randomness.seed=N train_dataloader.dataset.pairing_seed=N
_base_ = './brainformer_convnext-s_8xb64-coslr-100e_nsd.py'

train_dataloader = dict(dataset=dict(pairing='shuffled', pairing_seed={{_base_.randomness.seed}}))

# Copyright (c) mmbrain contributors. All rights reserved.
# Table 3 "# subjects = 1": pretraining on subjects [1] only (the main config uses 7); validation on the
# held-out shared1000 rows of the same subjects.
_base_ = '../brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
train_dataloader = dict(dataset=dict(subjects=[1]))
val_dataloader = dict(dataset=dict(subjects=[1]))
test_dataloader = val_dataloader

# Copyright (c) mmbrain contributors. All rights reserved.
# Brain response prediction on the synthetic world's held-out subject 8, cut to 4 epochs for the end-to-end demo.
_base_ = '../encoding/voxel-readout_convnext-mini-rand-init_1xb32-20e_synthetic-nsd-subj08.py'

max_epochs = 4
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))

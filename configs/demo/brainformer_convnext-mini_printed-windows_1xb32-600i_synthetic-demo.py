# Copyright (c) mmbrain contributors. All rights reserved.
# Algorithm 1 with the printed window count (the loop i = 0..L/s, window_count='printed'), at demo scale: the
# windows at the end of each level's sequence shrink inside their predecessors instead of stopping once they reach
# the end (the default 'cover'); mmbrain/models/fmri_encoders/windows.py, configs/pretrain/README.md (Table 3 w/s).
_base_ = './brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'
model = dict(fmri_encoder=dict(window_count='printed'))

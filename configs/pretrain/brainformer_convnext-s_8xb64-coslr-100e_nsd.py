# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer pretraining of ConvNeXt-S on NSD with the paper's settings (Sec. 4.2): 7 training subjects,
# 224 px without augmentation, AdamW lr 1e-4 with cosine decay, batch 64 per GPU on 8 GPUs, 100 epochs;
# Conv1D k=32 s=16, d_r=768, w=64, s=32, h=2, 3D voxel embedding, lambda_con = lambda_bfg = 0.5.
# Validation: image <-> brain retrieval on the held-out shared1000 rows.
#   bash tools/dist_train.sh configs/pretrain/brainformer_convnext-s_8xb64-coslr-100e_nsd.py 8 [--amp]
_base_ = [
    '../_base_/models/brainformer_convnext-s.py',
    '../_base_/datasets/nsd.py',
    '../_base_/schedules/brainformer_adamw-coslr-100e.py',
    '../_base_/default_runtime.py',
]

# GPU switches (docs/performance.md): images in channels-last memory for the image tower here; bf16 autocast,
# fused AdamW (schedule) and torch.compile (runtime) are off unless turned on, e.g. on CUDA machines:
#   --amp --cfg-options compile=True optim_wrapper.optimizer.fused=True
model = dict(data_preprocessor=dict(channels_last=True))

train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader

val_evaluator = dict(type='BrainRetrievalMetric', topk=(1, 5), match_by='nsd_id')
test_evaluator = val_evaluator

# the output norms of stages 0-2 are kept for downstream transfer but take no part in the loss
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)

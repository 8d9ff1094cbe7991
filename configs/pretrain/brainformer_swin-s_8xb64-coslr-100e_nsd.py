# Copyright (c) mmbrain contributors. All rights reserved.
# Brainformer pretraining of Swin-S on NSD (Sec. 4.2); everything else as the ConvNeXt-S config.
_base_ = [
    '../_base_/models/brainformer_swin-s.py',
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

# Copyright (c) mmbrain contributors. All rights reserved.
# Runtime shared by mmbrain's own configs (mmengine Runner).
default_scope = 'mmbrain'
custom_imports = dict(imports=['mmbrain'], allow_failed_imports=False)
# mmengine's Runner with safe checkpoint loading (weights_only for every URL scheme), checked pretrained weights
# and resumption, and gloo for multi-process runs without CUDA (mmbrain.engine.BrainRunner).
runner_type = 'mmbrain.BrainRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Checkpoints published atomically (temporary file, fsync, rename; mmbrain.engine.checkpoint_backend).
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3, save_last=True,
                    backend_args=dict(backend='mmbrain_atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Stop at the first NaN / Inf loss, naming the iteration, before a NaN model is checkpointed (mmbrain).
    finite_loss=dict(type='FiniteLossHook'),
)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
# torch.compile of the model's train_step by mmengine's Runner (docs/performance.md): True, or a dict of
# torch.compile options (e.g. dict(mode='max-autotune')); the first iterations then take minutes.
compile = False

# Experiment tracking through mmengine's visualisation backends (docs/tracking.md). LocalVisBackend writes
# <work_dir>/<timestamp>/vis_data/scalars.json, which mmbrain's report reads; keep it and add a tracker in a config:
#   visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), _base_.tensorboard_backend])
tensorboard_backend = dict(type='TensorboardVisBackend')
wandb_backend = dict(type='WandbVisBackend', init_kwargs=dict(project='mmbrain'))
mlflow_backend = dict(type='MLflowVisBackend', exp_name='mmbrain')
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_processor = dict(window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)

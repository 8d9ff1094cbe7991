# Copyright (c) mmbrain contributors. All rights reserved.
from .checkpoint_backend import AtomicLocalBackend
from .cpu_distributed import CPUDistributedDataParallel, cpu_model_wrapper_cfg, init_gloo_process_group
from .hooks import FiniteLossHook, non_finite_values
from .optim_constructor import GroupedOptimWrapperConstructor, merge_param_groups
from .runner import BrainRunner

__all__ = [
    'AtomicLocalBackend',
    'BrainRunner',
    'CPUDistributedDataParallel',
    'cpu_model_wrapper_cfg',
    'init_gloo_process_group',
    'GroupedOptimWrapperConstructor',
    'merge_param_groups',
    'FiniteLossHook',
    'non_finite_values',
]

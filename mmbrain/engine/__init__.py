# Copyright (c) mmbrain contributors. All rights reserved.
from ..utils import checkpoint as _checkpoint  # noqa: F401  (allow-lists mmengine's checkpoint types)
from .checkpoint_backend import AtomicLocalBackend
from .cpu_distributed import CPUDistributedDataParallel, setup_cpu_distributed
from .hooks import FiniteLossHook, non_finite_values
from .optim_constructor import GroupedOptimWrapperConstructor, merge_param_groups

__all__ = [
    'AtomicLocalBackend',
    'CPUDistributedDataParallel',
    'setup_cpu_distributed',
    'GroupedOptimWrapperConstructor',
    'merge_param_groups',
    'FiniteLossHook',
    'non_finite_values',
]

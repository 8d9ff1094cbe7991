# Copyright (c) mmbrain contributors. All rights reserved.
from .checkpoint_backend import AtomicLocalBackend
from .cpu_distributed import CPUDistributedDataParallel, setup_cpu_distributed
from .hooks import FiniteLossHook, non_finite_values

__all__ = ['AtomicLocalBackend', 'CPUDistributedDataParallel', 'setup_cpu_distributed', 'FiniteLossHook',
           'non_finite_values']

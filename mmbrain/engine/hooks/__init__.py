# Copyright (c) mmbrain contributors. All rights reserved.
from .finite_loss_hook import FiniteLossHook, non_finite_values

__all__ = ['FiniteLossHook', 'non_finite_values']

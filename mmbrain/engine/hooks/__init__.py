# Copyright (c) mmbrain contributors. All rights reserved.
from .finite_loss_hook import FiniteLossHook, non_finite_values
from .loss_gradient_hook import LossGradientNormHook, loss_gradient_norms

__all__ = [
    'FiniteLossHook',
    'non_finite_values',
    'LossGradientNormHook',
    'loss_gradient_norms',
]

# Copyright (c) mmbrain contributors. All rights reserved.
from .encoding_visualization_hook import BrainEncodingVisualizationHook
from .finite_loss_hook import FiniteLossHook, non_finite_values
from .loss_gradient_hook import LossGradientNormHook, loss_gradient_norms

__all__ = [
    'BrainEncodingVisualizationHook',
    'FiniteLossHook',
    'non_finite_values',
    'LossGradientNormHook',
    'loss_gradient_norms',
]

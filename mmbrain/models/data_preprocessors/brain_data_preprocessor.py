# Copyright (c) mmbrain contributors. All rights reserved.
"""Data preprocessor of image + fMRI batches (batch format: docs/architecture.md)."""

from typing import Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from mmbrain.registry import MODELS


@MODELS.register_module()
class BrainDataPreprocessor(BaseDataPreprocessor):
    """Move a ``brain_collate`` batch to the model's device and normalise its images.

    ``inputs['img']`` (uint8 [B, 3, H, W], BGR as loaded by mmcv) becomes float ``(img - mean) / std``, in RGB
    order when ``to_rgb``; every other tensor of ``inputs`` (``fmri``, ``fmri_mask``, ``xyz``,
    ``subject_index``) and the data samples are only moved to the device.

    Args:
        mean (Sequence[float]): Per-channel mean, in the output channel order.
        std (Sequence[float]): Per-channel std, in the output channel order.
        to_rgb (bool): Flip BGR to RGB.
        channels_last (bool): Return images in ``torch.channels_last`` memory format (faster convolutions on
            GPU).
        non_blocking (bool): Asynchronous host-to-device copies.
    """

    def __init__(
        self,
        mean: Sequence[float] = (123.675, 116.28, 103.53),
        std: Sequence[float] = (58.395, 57.12, 57.375),
        to_rgb: bool = True,
        channels_last: bool = False,
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'BrainDataPreprocessor: mean {mean} and std {std} need 3 values each')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.to_rgb = to_rgb
        self.channels_last = channels_last

    def forward(self, data: dict, training: bool = False) -> dict:
        """Return ``dict(inputs=..., data_samples=...)`` on the device with a normalised float ``img``."""
        data = self.cast_data(data)
        inputs = data.get('inputs')
        if not isinstance(inputs, dict) or not isinstance(inputs.get('img'), torch.Tensor):
            raise TypeError(
                'BrainDataPreprocessor: expected inputs=dict(img=Tensor[B, 3, H, W], fmri=..., ...) from '
                "collate_fn=dict(type='mmbrain.brain_collate'); got "
                f'{type(inputs).__name__} with keys {sorted(inputs) if isinstance(inputs, dict) else None}'
            )
        img = inputs['img']
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(f'BrainDataPreprocessor: img must be [B, 3, H, W], got {tuple(img.shape)}')
        if self.to_rgb:
            img = img.flip(1)
        img = (img.float() - self.mean) / self.std
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        return dict(inputs=dict(inputs, img=img), data_samples=data.get('data_samples'))

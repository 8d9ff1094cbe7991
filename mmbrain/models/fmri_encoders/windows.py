# Copyright (c) mmbrain contributors. All rights reserved.
"""Sliding windows over a sequence: the one count used by the Conv1D feature encoding (Eq. 2) and by the windows
of the Multi-scale fMRI Transformer (Algorithm 1)."""

from typing import Union

import torch
from torch import Tensor


def num_windows(length: Union[int, Tensor], size: int, stride: int) -> Union[int, Tensor]:
    """Windows of ``size`` moved by ``stride`` covering ``length`` elements (ints and LongTensors).

    ``ceil(max(n - size, 0) / stride) + 1`` for ``n > 0`` and 0 for an empty sequence: windows start at
    ``i * stride`` and the last one may run past the end (it then covers padding), so no element of the tail is
    dropped; a sequence shorter than ``size`` is one partial window. On a tensor the count is computed on the
    device, without reading the values back to the host.
    """
    if isinstance(length, Tensor):
        count = torch.div((length - size).clamp(min=0) + stride - 1, stride, rounding_mode='floor') + 1
        return torch.where(length > 0, count, torch.zeros_like(count))
    if length <= 0:
        return 0
    return (max(length - size, 0) + stride - 1) // stride + 1


def window_padding(length: int, size: int, stride: int) -> int:
    """Elements to append to a sequence of ``length`` so that its :func:`num_windows` windows are all whole."""
    return max(num_windows(length, size, stride) - 1, 0) * stride + size - length

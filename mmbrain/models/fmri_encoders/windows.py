# Copyright (c) mmbrain contributors. All rights reserved.
"""Sliding windows over a sequence: the one count used by the Conv1D feature encoding (Eq. 2) and by the windows
of the Multi-scale fMRI Transformer (Algorithm 1).

Two counts of windows of ``size`` moved by ``stride`` over ``n > 0`` elements (windows start at ``i * stride``):

- ``'cover'`` (default): ``ceil(max(n - size, 0) / stride) + 1``, the fewest windows that reach the end. The last
  one may run past the end (it then covers padding), so no element of the tail is dropped, and no window lies
  inside its predecessor. A sequence shorter than ``size`` is one partial window.
- ``'printed'``: Algorithm 1 as printed, ``for i = 0, ..., L/s``: a window starts at every multiple of ``stride``
  below ``n``, i.e. ``ceil(n / stride)`` windows (the printed loop's ``floor(n / stride) + 1`` less the window
  starting at ``n`` itself when ``stride`` divides ``n``, which would hold no element). The windows of the tail
  shrink and lie inside their predecessors. For 20 000 voxels at the paper's settings (Conv1D k=32 s=16, w=64,
  s=32, h=2) the levels hold 1249, 40 and 2 tokens (``'cover'``: 1249, 39 and 1).
"""

from typing import Union

import torch
from torch import Tensor

#: The window counts :func:`num_windows` knows (module docstring).
WINDOW_COUNTS = ('cover', 'printed')


def check_window_count(window_count: str) -> str:
    """``window_count`` itself, or a ValueError naming the known counts."""
    if window_count not in WINDOW_COUNTS:
        raise ValueError(f'window_count must be one of {WINDOW_COUNTS}, got {window_count!r}')
    return window_count


def num_windows(length: Union[int, Tensor], size: int, stride: int, window_count: str = 'cover') -> Union[int, Tensor]:
    """Windows of ``size`` moved by ``stride`` over ``length`` elements (ints and LongTensors; module docstring).

    0 for an empty sequence. On a tensor the count is computed on the device, without reading the values back
    to the host.
    """
    check_window_count(window_count)
    if isinstance(length, Tensor):
        if window_count == 'printed':
            return torch.div(length.clamp(min=0) + stride - 1, stride, rounding_mode='floor')
        count = torch.div((length - size).clamp(min=0) + stride - 1, stride, rounding_mode='floor') + 1
        return torch.where(length > 0, count, torch.zeros_like(count))
    if length <= 0:
        return 0
    if window_count == 'printed':
        return (length + stride - 1) // stride
    return (max(length - size, 0) + stride - 1) // stride + 1


def window_padding(length: int, size: int, stride: int, window_count: str = 'cover') -> int:
    """Elements to append to a sequence of ``length`` so that its :func:`num_windows` windows are all whole."""
    return max(num_windows(length, size, stride, window_count) - 1, 0) * stride + size - length

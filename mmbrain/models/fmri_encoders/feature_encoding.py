# Copyright (c) mmbrain contributors. All rights reserved.
"""High-dimensional fMRI feature encoding with ``Conv1D`` (Sec. 3.2.1, Eq. 2)."""

from typing import Union

import torch.nn.functional as F
from torch import Tensor, nn

from .windows import num_windows, window_padding


def pad_to_conv_tokens(x: Tensor, kernel_size: int, stride: int) -> Tensor:
    """Zero-pad the last dimension of ``x`` so that ``Conv1D`` yields ``num_windows(width, kernel, stride)`` tokens."""
    return F.pad(x, (0, window_padding(x.shape[-1], kernel_size, stride)))


class Conv1DFeatureEncoding(nn.Module):
    """``r^k = Conv1D(m^k)`` (Eq. 2): one ROI's voxel vector to a sequence of ``d_r``-dim tokens.

    A 1-channel ``nn.Conv1d`` of kernel ``k`` and stride ``s`` slides over the voxel order of the ROI; the
    signal is zero-padded on the right so that the tail voxels are covered (:func:`~.windows.num_windows`).

    Args:
        embed_dims (int): ``d_r``.
        kernel_size (int): Conv kernel (32 in the paper).
        stride (int): Conv stride (16 in the paper).
    """

    def __init__(self, embed_dims: int, kernel_size: int = 32, stride: int = 16) -> None:
        super().__init__()
        if stride > kernel_size:
            raise ValueError(f'Conv1DFeatureEncoding: stride={stride} > kernel_size={kernel_size} would skip voxels')
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv1d(1, embed_dims, kernel_size, stride)

    def num_tokens(self, num_voxels: Union[int, Tensor]) -> Union[int, Tensor]:
        """Tokens produced for ``num_voxels`` real voxels."""
        return num_windows(num_voxels, self.kernel_size, self.stride)

    def forward(self, fmri: Tensor) -> Tensor:
        """Encode ``fmri`` [N, V] (zeros past each row's real voxels) to tokens [N, num_tokens(V), d_r]."""
        x = pad_to_conv_tokens(fmri, self.kernel_size, self.stride)
        return self.conv(x.unsqueeze(1)).transpose(1, 2)

# Copyright (c) mmbrain contributors. All rights reserved.
"""Multi-scale fMRI Transformer (Sec. 3.2.3, Algorithm 1)."""

from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .transblock import TransBlock, masked_mean
from .windows import check_window_count, num_windows, window_padding


class MultiScaleFMRITransformer(nn.Module):
    """Algorithm 1 for one ROI: ``h`` levels of windowed TransBlocks, then a final TransBlock giving ``q̄^k``.

    At each level the sequence is cut into windows of width ``w`` moved by stride ``s``; each window goes
    through the level's TransBlock and is reduced to one token by the mean of its outputs; the window tokens
    form the next level's sequence. The final TransBlock runs over the last sequence, whose mean is ``q̄^k``.

    Windows (:mod:`~.windows`): windows start at ``i * s``. With ``window_count='cover'`` (default) a sequence of
    ``n`` tokens gets ``ceil(max(n - w, 0) / s) + 1`` windows: the last one may be partial (it ends at ``n``), every
    token is covered and no window lies inside its predecessor; a sequence shorter than ``w`` is one (partial)
    window. ``window_count='printed'`` is the loop of Algorithm 1 as printed (``i = 0, ..., L/s``): ``ceil(n / s)``
    windows, the last ones shrinking inside their predecessors. At the paper's sizes the difference is at the end
    of the sequence: 20 000 voxels give levels of 1249, 39, 1 tokens (``'cover'``; the final TransBlock attends
    over one token) or 1249, 40, 2 (``'printed'``). ``s <= w`` is required so that no token is skipped.

    Two implementations share the weights and the window count:

    - :meth:`forward`: the batch at once. Sequences are padded to a common length (``lengths`` gives the real
      ones); all windows of all samples are cut with ``unfold`` and go through ONE batched attention call per
      level, with key-padding masks hiding the padding of partial windows; window means are masked means.
    - :meth:`forward_unbatched`: the same computation without batching: a Python loop over each level's windows
      (lines 7-11 of Algorithm 1) on unpadded sequences; with ``window_count='printed'`` it is Algorithm 1 line by
      line. The reference of the equivalence tests and the baseline of ``benchmarks/bench_encoder.py``.

    Args:
        embed_dims (int): ``d_r``.
        num_heads (int): Attention heads of every TransBlock.
        window_size (int): ``w``.
        window_stride (int): ``s``.
        num_levels (int): ``h``.
        mlp_ratio (float): MLP ratio of the TransBlocks.
        dropout (float): Dropout of the TransBlocks.
        window_count (str): ``'cover'`` or ``'printed'`` (above).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: int = 64,
        window_stride: int = 32,
        num_levels: int = 2,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        window_count: str = 'cover',
    ) -> None:
        super().__init__()
        if not 0 < window_stride <= window_size:
            raise ValueError(
                f'MultiScaleFMRITransformer: need 0 < window_stride ({window_stride}) <= window_size ({window_size})'
            )
        self.window_size = window_size
        self.window_stride = window_stride
        self.window_count = check_window_count(window_count)
        self.levels = nn.ModuleList(TransBlock(embed_dims, num_heads, mlp_ratio, dropout) for _ in range(num_levels))
        self.final = TransBlock(embed_dims, num_heads, mlp_ratio, dropout)

    def num_windows(self, length: Union[int, Tensor]) -> Union[int, Tensor]:
        """Windows cut from a sequence of ``length`` real tokens (0 for an empty sequence)."""
        return num_windows(length, self.window_size, self.window_stride, self.window_count)

    def _windows(self, x: Tensor, mask: Tensor):
        """Cut [B, L, d] / [B, L] into all windows: ([B * nW, w', d], [B * nW, w'], nW)."""
        batch, length, dims = x.shape
        count = self.num_windows(length)
        if count <= 1:
            return x, mask, 1
        pad = window_padding(length, self.window_size, self.window_stride, self.window_count)
        x = F.pad(x, (0, 0, 0, pad)).unfold(1, self.window_size, self.window_stride)
        mask = F.pad(mask, (0, pad)).unfold(1, self.window_size, self.window_stride)
        x = x.permute(0, 1, 3, 2).reshape(batch * count, self.window_size, dims)
        return x, mask.reshape(batch * count, self.window_size), count

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Batched Algorithm 1.

        Args:
            x (Tensor): ``r^k`` [B, L, d]; positions ``>= lengths[b]`` are padding.
            lengths (Tensor): Long [B], real tokens per sample.

        Returns:
            Tensor: ``q̄^k`` [B, d] (zeros for an empty sequence).
        """
        batch, length, dims = x.shape
        mask = torch.arange(length, device=x.device) < lengths[:, None]
        for block in self.levels:
            windows, window_mask, count = self._windows(x, mask)
            x = masked_mean(block(windows, window_mask), window_mask).view(batch, count, dims)
            lengths = self.num_windows(lengths)
            mask = torch.arange(count, device=x.device) < lengths[:, None]
        return masked_mean(self.final(x, mask), mask)

    def forward_unbatched(self, x: Tensor) -> Tensor:
        """Algorithm 1 without batching: a Python loop over the windows of each level, on unpadded sequences.

        Args:
            x (Tensor): ``r^k`` [G, n, d], ``n`` real tokens for all ``G`` rows (no padding).

        Returns:
            Tensor: ``q̄^k`` [G, d].
        """
        if x.shape[1] == 0:
            return x.new_zeros(x.shape[0], x.shape[2])
        w, s = self.window_size, self.window_stride
        for block in self.levels:  # line 4: for j = 1, ..., h
            tokens = []
            for i in range(self.num_windows(x.shape[1])):  # line 7 ('printed': i = 0, ..., L/s)
                tokens.append(block(x[:, i * s : i * s + w]).mean(dim=1))  # lines 8-10
            x = torch.stack(tokens, dim=1)  # line 12
        return self.final(x).mean(dim=1)  # line 14

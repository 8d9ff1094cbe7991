# Copyright (c) mmbrain contributors. All rights reserved.
"""Spatial embeddings added to the Conv1D tokens: Brain 3D Voxel Embedding (Sec. 3.2.2, Eq. 3-4) and the
positional embeddings it is compared with in Table 3 ("pos embed").

Every embedding is a :class:`~.base.BaseSpatialEmbedding`: ``embed(tokens, xyz, voxel_mask)`` with the Conv1D tokens
``[N, L, d_r]`` returns a tensor that is added to them (Eq. 4): ``[S, L, d_r]`` (one row per distinct subject of the
batch, ``per_subject = True``; the encoder indexes it with ``subject_index``) or ``[1, L, d_r]`` (the same for every
sample). Only the 3D voxel embedding reads the coordinates ``xyz`` [S, V, 3] and their mask [S, V].
"""

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base import BaseSpatialEmbedding
from .feature_encoding import pad_to_conv_tokens


@MODELS.register_module()
class Voxel3DEmbedding(BaseSpatialEmbedding):
    """Brain 3D Voxel Embedding, ``v_i^k = Linear(x_i, y_i, z_i)`` (Eq. 3), at the Conv1D token resolution.

    Eq. 3 gives one embedding per voxel, Eq. 4 adds it to the Conv1D features, whose tokens each summarise a
    window of ``kernel_size`` voxels moved by ``stride``. We bring the voxel embeddings to that resolution by
    averaging them over the same windows. Since ``Linear`` is affine, that average equals ``Linear`` of the
    window's mean coordinate, which is what is computed: the coordinates are average-pooled with the Conv1D's
    kernel and stride (over real voxels only, so the partial last window averages its real voxels), then
    mapped by one ``Linear(3, d_r)``. Coordinates are in millimetres; they are multiplied by ``coord_scale``
    first so that the linear layer sees values of order one.

    The embedding depends only on the subject's voxel coordinates, so it is computed once per distinct
    subject in the batch (``xyz`` is ``[S, V, 3]``) and gathered per sample by the encoder.

    Args:
        embed_dims (int): ``d_r``.
        kernel_size (int): Kernel of the Conv1D feature encoding.
        stride (int): Stride of the Conv1D feature encoding.
        coord_scale (float): Factor applied to the millimetre coordinates before ``Linear``.
    """

    per_subject = True
    pooled_to_conv_tokens = True
    needs_xyz = True

    def __init__(self, embed_dims: int, kernel_size: int, stride: int, coord_scale: float = 0.01) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.coord_scale = coord_scale
        self.linear = nn.Linear(3, embed_dims)

    def forward(self, tokens: Tensor, xyz: Optional[Tensor], voxel_mask: Optional[Tensor]) -> Tensor:
        """Embed ``xyz`` [S, V, 3] with real voxels ``voxel_mask`` [S, V] into [S, L, d_r] (L = ``tokens.shape[1]``)."""
        if xyz is None or voxel_mask is None:
            raise ValueError(
                'Voxel3DEmbedding needs voxel coordinates: the batch has no `xyz` (converted files '
                'without rois/<group>/xyz); use another pos_embed or convert with coordinates'
            )
        num_tokens = tokens.shape[1]
        weights = pad_to_conv_tokens(voxel_mask.to(xyz.dtype).unsqueeze(1), self.kernel_size, self.stride)
        coords = pad_to_conv_tokens((xyz * self.coord_scale).transpose(1, 2), self.kernel_size, self.stride)
        coords = coords * weights
        pooled = F.avg_pool1d(coords, self.kernel_size, self.stride) / F.avg_pool1d(
            weights, self.kernel_size, self.stride
        ).clamp(min=1.0 / self.kernel_size)
        return self.linear(pooled.transpose(1, 2)[:, :num_tokens])


@MODELS.register_module()
class LearnedPositionalEmbedding(BaseSpatialEmbedding):
    """Learned embedding of the token index (Table 3, "pos embed"); ignores the coordinates.

    Args:
        embed_dims (int): ``d_r``.
        max_tokens (int): Longest Conv1D token sequence supported (a 20k-voxel ROI at stride 16 has 1250).
    """

    def __init__(self, embed_dims: int, max_tokens: int = 4096) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.zeros(max_tokens, embed_dims))
        nn.init.trunc_normal_(self.embedding, std=0.02)

    def forward(self, tokens: Tensor, xyz: Optional[Tensor] = None, voxel_mask: Optional[Tensor] = None) -> Tensor:
        """Return [1, L, d_r] (L = ``tokens.shape[1]``)."""
        num_tokens = tokens.shape[1]
        if num_tokens > self.embedding.shape[0]:
            raise ValueError(
                f'LearnedPositionalEmbedding: {num_tokens} tokens exceed max_tokens='
                f'{self.embedding.shape[0]}; raise max_tokens in the config'
            )
        return self.embedding[:num_tokens].unsqueeze(0)


@MODELS.register_module()
class SinusoidalPositionalEmbedding(BaseSpatialEmbedding):
    """Fixed sine/cosine embedding of the token index (Vaswani et al.); ignores the coordinates.

    Args:
        embed_dims (int): ``d_r`` (even).
        base (float): Wavelength base.
    """

    def __init__(self, embed_dims: int, base: float = 10000.0) -> None:
        super().__init__()
        if embed_dims % 2:
            raise ValueError(f'SinusoidalPositionalEmbedding: embed_dims={embed_dims} must be even')
        self.embed_dims = embed_dims
        self.base = base

    def forward(self, tokens: Tensor, xyz: Optional[Tensor] = None, voxel_mask: Optional[Tensor] = None) -> Tensor:
        """Return [1, L, d_r] (L = ``tokens.shape[1]``)."""
        pos = torch.arange(tokens.shape[1], device=tokens.device, dtype=torch.float32)
        freqs = torch.exp(
            torch.arange(0, self.embed_dims, 2, device=tokens.device, dtype=torch.float32)
            * (-math.log(self.base) / self.embed_dims)
        )
        angles = pos[:, None] * freqs[None]
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1).unsqueeze(0).to(tokens.dtype)

# Copyright (c) mmbrain contributors. All rights reserved.
"""TransBlock: the pre-norm transformer layer used throughout Brainformer (Sec. 3.2.3-3.2.4)."""

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn


class TransBlock(nn.Module):
    """Pre-norm transformer encoder layer with key-padding masks.

    ``x + MHSA(LN(x))`` then ``x + MLP(LN(x))``; attention runs through
    :func:`torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient kernels on GPU).

    Args:
        embed_dims (int): Token dimension ``d_r``.
        num_heads (int): Attention heads; must divide ``embed_dims``.
        mlp_ratio (float): Hidden size of the MLP relative to ``embed_dims``.
        dropout (float): Dropout on attention weights and on both residual branches (training only).
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'TransBlock: embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(embed_dims)
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        hidden = int(embed_dims * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, embed_dims)
        )
        self.drop = nn.Dropout(dropout)

    def attention(self, x: Tensor, key_mask: Optional[Tensor]) -> Tensor:
        """Multi-head self-attention of ``x`` [N, L, d]; ``key_mask`` [N, L] (True = real token) or None."""
        n, length, dims = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.num_heads, dims // self.num_heads).permute(2, 0, 3, 1, 4)
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(out.transpose(1, 2).reshape(n, length, dims))

    def forward(self, x: Tensor, key_mask: Optional[Tensor] = None) -> Tensor:
        """Apply the layer.

        Args:
            x (Tensor): Tokens, shape [N, L, d].
            key_mask (Tensor, optional): Bool [N, L], True for real tokens. Padded tokens are never attended
                to; their own outputs are meaningless and must be ignored by the caller. A row with no real
                token attends to all of its (padded) tokens so that it stays finite.

        Returns:
            Tensor: Shape [N, L, d].
        """
        if key_mask is not None:
            key_mask = key_mask | ~key_mask.any(dim=1, keepdim=True)
        x = x + self.drop(self.attention(self.norm1(x), key_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


def masked_mean(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Mean of ``x`` [N, L, d] over its real tokens (``mask`` [N, L], True = real; None = all); [N, d].

    Rows without any real token give zeros.
    """
    if mask is None:
        return x.mean(dim=1)
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)

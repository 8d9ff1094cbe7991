# Copyright (c) mmbrain contributors. All rights reserved.
"""Brain cognitive features: a TransBlock over the ROI features (Sec. 3.2.4)."""

from torch import Tensor, nn

from .transblock import TransBlock


class ROITransformer(nn.Module):
    """``q = TransBlock([q̄^k]_k)``, pooled by the mean over the ROI tokens.

    Args:
        embed_dims (int): ``d_r``.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP ratio.
        dropout (float): Dropout.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.block = TransBlock(embed_dims, num_heads, mlp_ratio, dropout)

    def forward(self, roi_feats: Tensor) -> Tensor:
        """Map ROI features [B, K, d] to the brain cognitive features ``q`` [B, d]."""
        return self.block(roi_feats).mean(dim=1)

# Copyright (c) mmbrain contributors. All rights reserved.
"""Voxel-wise readout: image features -> the response of every voxel of every ROI group (paper Sec. 4.5)."""

from typing import Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base_readout import BaseVoxelReadoutHead


@MODELS.register_module()
class VoxelReadoutHead(BaseVoxelReadoutHead):
    """Linear readout from multi-level pooled image features to every voxel, one linear map per ROI group.

    Each backbone level is average-pooled to a ``pool_size x pool_size`` grid (keeping a coarse retinotopy that
    early visual cortex depends on), flattened, and the levels are concatenated and layer-normalised into one
    feature vector ``f``; voxel ``v`` of group ``G`` is predicted as ``w_{G,v} . f + b_{G,v}``. Trained with the
    mean squared error over the real (unpadded) voxels. ``pool_size=1`` discards where in the image a feature is;
    :class:`~.FactorizedReadoutHead` keeps a fine grid at about the 1 x 1 readout's size.

    Args:
        in_channels: channels of each backbone level, in the order the backbone returns them.
        num_voxels: voxels per ROI group (``{group: V_G}``, e.g. ``ConvertedSubject(path).voxel_counts``;
            :class:`~mmbrain.models.algorithms.BrainResponsePredictor` resolves a file name given here).
        pool_size: side of the pooled grid per level. Levels the backbone already pooled (``(B, C)`` outputs,
            e.g. ``gap_before_final_norm=True``) are used as they are.
        dropout: dropout on ``f`` during training.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_voxels: Mapping[str, int],
        pool_size: int = 1,
        dropout: float = 0.0,
        init_cfg: Optional[dict] = dict(type='Normal', layer='Linear', std=0.01),  # noqa: B006
    ) -> None:
        super().__init__(in_channels, num_voxels, dropout=dropout, init_cfg=init_cfg)
        self.pool_size = pool_size
        self.feat_dim = sum(self.in_channels) * pool_size * pool_size
        self.norm = nn.LayerNorm(self.feat_dim)
        self.readouts = nn.ModuleDict({g: nn.Linear(self.feat_dim, n) for g, n in self.num_voxels.items()})

    def pool(self, feats: Sequence[Tensor]) -> Tensor:
        """Concatenate the pooled levels into ``(B, feat_dim)``, layer-normalised."""
        self.check_levels(feats)
        pooled = []
        for feat in feats:
            if feat.dim() == 4:
                feat = F.adaptive_avg_pool2d(feat, self.pool_size).flatten(1)
            elif self.pool_size != 1:
                raise ValueError(f'pool_size={self.pool_size} needs (B, C, H, W) features, got {tuple(feat.shape)}')
            pooled.append(feat)
        feat = torch.cat(pooled, dim=1)
        if feat.shape[1] != self.feat_dim:
            raise ValueError(
                f'pooled features have {feat.shape[1]} dims, the readout expects {self.feat_dim} '
                f'(in_channels={self.in_channels}, pool_size={self.pool_size})'
            )
        return self.norm(feat)

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Predicted responses ``{group: (B, V_G)}``."""
        feat = self.dropout(self.pool(feats))
        return {g: readout(feat) for g, readout in self.readouts.items()}

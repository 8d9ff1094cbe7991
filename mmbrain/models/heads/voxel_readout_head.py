# Copyright (c) mmbrain contributors. All rights reserved.
"""Voxel-wise readout: image features -> the response of every voxel of every ROI group (paper Sec. 4.5)."""

from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmbrain.registry import MODELS


@MODELS.register_module()
class VoxelReadoutHead(BaseModule):
    """Linear readout from multi-level pooled image features to every voxel, one linear map per ROI group.

    Each backbone level is average-pooled to a ``pool_size x pool_size`` grid (keeping a coarse retinotopy that
    early visual cortex depends on), flattened, and the levels are concatenated and layer-normalised into one
    feature vector ``f``; voxel ``v`` of group ``G`` is predicted as ``w_{G,v} . f + b_{G,v}``. Trained with the
    mean squared error over the real (unpadded) voxels.

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
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_voxels, Mapping) or not num_voxels or any(int(v) < 1 for v in num_voxels.values()):
            raise ValueError(f'num_voxels must map every ROI group to at least one voxel, got {num_voxels!r}')
        self.in_channels = tuple(in_channels)
        self.pool_size = pool_size
        self.groups = tuple(num_voxels)
        self.num_voxels = {g: int(num_voxels[g]) for g in self.groups}
        self.feat_dim = sum(self.in_channels) * pool_size * pool_size
        self.norm = nn.LayerNorm(self.feat_dim)
        self.dropout = nn.Dropout(dropout)
        self.readouts = nn.ModuleDict({g: nn.Linear(self.feat_dim, n) for g, n in self.num_voxels.items()})

    def pool(self, feats: Sequence[Tensor]) -> Tensor:
        """Concatenate the pooled levels into ``(B, feat_dim)``, layer-normalised."""
        if len(feats) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} backbone levels, got {len(feats)}')
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

    def loss(
        self, feats: Sequence[Tensor], fmri: Mapping[str, Tensor], fmri_mask: Mapping[str, Tensor]
    ) -> Dict[str, Tensor]:
        """Mean squared error over every real voxel of every group.

        Args:
            feats: backbone levels.
            fmri: measured responses ``{group: (B, Vmax_G)}``, zero-padded (brain_collate).
            fmri_mask: ``{group: (B, Vmax_G)}``, True where a voxel is real.
        """
        preds = self(feats)
        sq_err, count = 0.0, 0
        for g, pred in preds.items():
            target, mask = self._align(g, fmri, fmri_mask)
            sq_err = sq_err + ((pred - target) ** 2 * mask).sum()
            count += int(mask.sum())
        if count == 0:
            raise ValueError('the batch holds no real voxel to fit')
        return dict(loss_mse=sq_err / count)

    def _align(self, group: str, fmri: Mapping[str, Tensor], fmri_mask: Mapping[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """The batch's responses and mask of ``group``, checked against the readout's voxel count."""
        if group not in fmri:
            raise KeyError(f'the batch has no responses for ROI group {group!r} (has {sorted(fmri)})')
        target, mask = fmri[group], fmri_mask[group]
        if target.shape[1] != self.num_voxels[group]:
            raise ValueError(
                f'ROI group {group!r}: the batch has {target.shape[1]} voxels, the readout was built for '
                f'{self.num_voxels[group]} (another subject?)'
            )
        return target, mask.to(target.dtype)

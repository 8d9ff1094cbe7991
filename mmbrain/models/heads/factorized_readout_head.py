# Copyright (c) mmbrain contributors. All rights reserved.
"""Factorised spatial x feature readout: each voxel reads its own place of the image (paper Sec. 4.5 readout,
the spatial option of docs/evaluation.md)."""

from typing import Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base_readout import BaseVoxelReadoutHead


@MODELS.register_module()
class FactorizedReadoutHead(BaseVoxelReadoutHead):
    """Voxel readout with a spatial mask and a feature vector per voxel (Klindt et al., NeurIPS 2017).

    Every backbone level is average-pooled to one ``grid_size x grid_size`` grid (a level smaller than the grid is
    repeated onto it), the levels are concatenated along channels and layer-normalised at each grid position into
    ``f`` (C channels x P = grid_size² positions); voxel ``v`` of group ``G`` is predicted as
    ``sum_p m_{v,p} sum_c w_{v,c} f_{c,p} + b_v``: where in the image (``m_v``, P values) times what (``w_v``, C
    values). That is ``P + C + 1`` weights per voxel, against ``C * P + 1`` for the pooled grid of
    :class:`~.VoxelReadoutHead` with ``pool_size=grid_size``, so a fine grid keeps the retinotopy that early visual
    cortex depends on at about the size of the 1 x 1 readout. The masks start uniform (``1 / P``), where the
    readout equals a linear readout of the spatial mean of ``f``; loss and checks are those of every readout
    (:class:`~.BaseVoxelReadoutHead`: mean squared error over the real voxels).

    Args:
        in_channels: channels of each backbone level, in the order the backbone returns them.
        num_voxels: voxels per ROI group (``{group: V_G}``; a file name is resolved by
            :class:`~mmbrain.models.algorithms.BrainResponsePredictor`).
        grid_size: side of the common grid (7: the last ConvNeXt-S / Swin-S stage at 224 px).
        dropout: dropout on ``f`` during training.
        init_cfg: mmengine initialisation config (the readout's own weights are initialised here: uniform masks,
            features N(0, 0.01²), zero biases).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_voxels: Mapping[str, int],
        grid_size: int = 7,
        dropout: float = 0.0,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if grid_size < 1:
            raise ValueError(f'grid_size must be >= 1, got {grid_size}')
        super().__init__(in_channels, num_voxels, dropout=dropout, init_cfg=init_cfg)
        self.grid_size = grid_size
        channels, positions = sum(self.in_channels), grid_size * grid_size
        self.norm = nn.LayerNorm(channels)
        self.spatial = nn.ParameterDict(
            {g: nn.Parameter(torch.full((n, positions), 1.0 / positions)) for g, n in self.num_voxels.items()}
        )
        self.features = nn.ParameterDict(
            {g: nn.Parameter(torch.randn(n, channels) * 0.01) for g, n in self.num_voxels.items()}
        )
        self.bias = nn.ParameterDict({g: nn.Parameter(torch.zeros(n)) for g, n in self.num_voxels.items()})

    def feature_map(self, feats: Sequence[Tensor]) -> Tensor:
        """The levels on the common grid, layer-normalised over channels at each position: ``(B, C, P)``."""
        self.check_levels(feats)
        if any(feat.dim() != 4 for feat in feats):
            raise ValueError(f'{type(self).__name__} needs (B, C, H, W) levels, got {[tuple(f.shape) for f in feats]}')
        grid = torch.cat([F.adaptive_avg_pool2d(feat, self.grid_size) for feat in feats], dim=1)
        if grid.shape[1] != self.norm.normalized_shape[0]:
            raise ValueError(f'the levels have {grid.shape[1]} channels, the readout expects {self.in_channels}')
        return self.norm(grid.flatten(2).transpose(1, 2)).transpose(1, 2)

    def pool(self, feats: Sequence[Tensor]) -> Tensor:
        """The readout's input as one vector per image, ``(B, C * P)`` (what a ridge baseline on it would use)."""
        return self.feature_map(feats).flatten(1)

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Predicted responses ``{group: (B, V_G)}``."""
        f = self.dropout(self.feature_map(feats))
        out = {}
        for g in self.groups:
            what = torch.einsum('bcp,vc->bvp', f, self.features[g])  # (B, V, P): each voxel's feature at each place
            out[g] = (what * self.spatial[g]).sum(dim=-1) + self.bias[g]
        return out

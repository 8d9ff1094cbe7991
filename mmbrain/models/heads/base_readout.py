# Copyright (c) mmbrain contributors. All rights reserved.
"""The contract of a voxel readout head: image feature levels -> every voxel of every ROI group (paper Sec. 4.5)."""

from abc import ABCMeta, abstractmethod
from typing import Dict, Mapping, Optional, Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn


class BaseVoxelReadoutHead(BaseModule, metaclass=ABCMeta):
    """What :class:`~mmbrain.models.algorithms.BrainResponsePredictor` and the ridge baseline use of a readout.

    Subclasses define :meth:`pool` (the readout's input, one vector per image) and :meth:`forward` (the predicted
    responses); the loss (mean squared error over the real, unpadded voxels) and the checks of the batch against
    the voxel counts are shared.

    Args:
        in_channels: channels of each backbone level, in the order the backbone returns them.
        num_voxels: voxels per ROI group (``{group: V_G}``, e.g. ``ConvertedSubject(path).voxel_counts``;
            :class:`~mmbrain.models.algorithms.BrainResponsePredictor` resolves a file name given here).
        dropout: dropout on the readout's input during training.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_voxels: Mapping[str, int],
        dropout: float = 0.0,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_voxels, Mapping) or not num_voxels or any(int(v) < 1 for v in num_voxels.values()):
            raise ValueError(f'num_voxels must map every ROI group to at least one voxel, got {num_voxels!r}')
        self.in_channels = tuple(in_channels)
        self.groups = tuple(num_voxels)
        self.num_voxels = {g: int(num_voxels[g]) for g in self.groups}
        self.dropout = nn.Dropout(dropout)

    def check_levels(self, feats: Sequence[Tensor]) -> None:
        """A clear error when the backbone returns another number of levels than ``in_channels`` names."""
        if len(feats) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} backbone levels, got {len(feats)}')

    @abstractmethod
    def pool(self, feats: Sequence[Tensor]) -> Tensor:
        """The readout's input features, ``(B, F)``."""

    @abstractmethod
    def forward(self, feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Predicted responses ``{group: (B, V_G)}``."""

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

# Copyright (c) mmbrain contributors. All rights reserved.
"""The Linear fMRI encoder baseline of Table 3 ("fMRI Feature Encoding (Linear)", Sec. 5)."""

from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base import BaseFMRIEncoder
from .roi_transformer import ROITransformer


@MODELS.register_module()
class LinearFMRIEncoder(BaseFMRIEncoder):
    """Each ROI's whole voxel vector through one ``Linear`` layer (as in prior fMRI work), then the same ROI
    transformer as Brainformer (Sec. 3.2.4), so the ablation changes only the feature encoding.

    No Conv1D, no spatial embedding, no multi-scale transformer: ``q̄^k = Linear_k(m^k)``. Subjects have
    different voxel counts; every signal is zero-padded to ``num_voxels[G]`` (at least the largest count of
    any subject used).

    Args:
        roi_names (Sequence[str]): ROI groups, in order.
        num_voxels (Mapping[str, int]): Input width of each ROI's linear layer.
        embed_dims (int): ``d_r``.
        num_heads (int): Attention heads of the ROI transformer.
        mlp_ratio (float): MLP ratio of the ROI transformer.
        dropout (float): Dropout of the ROI transformer.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(
        self,
        roi_names: Sequence[str],
        num_voxels: Mapping[str, int],
        embed_dims: int = 768,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(roi_names, embed_dims, init_cfg=init_cfg)
        missing = [name for name in self.roi_names if name not in num_voxels]
        if missing:
            raise KeyError(f'LinearFMRIEncoder: num_voxels lacks ROI groups {missing}')
        self.num_voxels = {name: int(num_voxels[name]) for name in self.roi_names}
        self.linears = nn.ModuleDict({name: nn.Linear(self.num_voxels[name], embed_dims) for name in self.roi_names})
        self.roi_transformer = ROITransformer(embed_dims, num_heads, mlp_ratio, dropout)

    def forward(
        self,
        fmri: Dict[str, Tensor],
        fmri_mask: Dict[str, Tensor],
        xyz: Optional[Dict[str, Tensor]] = None,
        subject_index: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Encode a batch; same interface as :class:`BrainformerEncoder` (``xyz`` / ``subject_index`` unused).

        Returns:
            tuple[Tensor, Tensor]: ``q`` [B, d_r] and the ROI features [B, K, d_r].
        """
        self.check_inputs(fmri, fmri_mask, None, subject_index)
        roi_feats = []
        for name in self.roi_names:
            width = fmri[name].shape[1]
            if width > self.num_voxels[name]:
                raise ValueError(
                    f'LinearFMRIEncoder: ROI {name!r} has {width} voxels in the batch but the layer '
                    f'takes num_voxels={self.num_voxels[name]}; raise it in the config'
                )
            signal = F.pad(fmri[name].masked_fill(~fmri_mask[name], 0), (0, self.num_voxels[name] - width))
            roi_feats.append(self.linears[name](signal))
        roi_feats = torch.stack(roi_feats, dim=1)
        return self.roi_transformer(roi_feats), roi_feats

# Copyright (c) mmbrain contributors. All rights reserved.
"""The Brainformer fMRI encoder (Sec. 3.2): per-ROI Conv1D + spatial embedding + Multi-scale fMRI
Transformer, then the ROI transformer."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmbrain.registry import MODELS

from .base import BaseFMRIEncoder, BaseSpatialEmbedding
from .feature_encoding import Conv1DFeatureEncoding
from .multiscale_transformer import MultiScaleFMRITransformer
from .roi_transformer import ROITransformer


class ROIEncoder(nn.Module):
    """One ROI's path: ``r^k = Conv1D(m^k) + v(m^k)`` (Eq. 4), then Algorithm 1 giving ``q̄^k``.

    Args:
        embed_dims (int): ``d_r``.
        num_heads (int): Attention heads.
        conv_kernel (int): Conv1D kernel.
        conv_stride (int): Conv1D stride.
        window_size (int): ``w``.
        window_stride (int): ``s``.
        num_levels (int): ``h``.
        mlp_ratio (float): MLP ratio of the TransBlocks.
        dropout (float): Dropout of the TransBlocks.
        pos_embed (dict, optional): Spatial embedding config (see ``voxel_embedding.py``); None for none.
        window_count (str): Windows per level of Algorithm 1, ``'cover'`` or ``'printed'`` (``windows.py``).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        conv_kernel: int,
        conv_stride: int,
        window_size: int,
        window_stride: int,
        num_levels: int,
        mlp_ratio: float,
        dropout: float,
        pos_embed: Optional[dict],
        window_count: str = 'cover',
    ) -> None:
        super().__init__()
        self.feature_encoding = Conv1DFeatureEncoding(embed_dims, conv_kernel, conv_stride)
        self.pos_embed = None
        if pos_embed is not None:
            pos_embed = dict(pos_embed, embed_dims=embed_dims)
            embed_cls = MODELS.get(pos_embed['type']) if isinstance(pos_embed['type'], str) else pos_embed['type']
            if not (isinstance(embed_cls, type) and issubclass(embed_cls, BaseSpatialEmbedding)):
                raise TypeError(
                    f'pos_embed type {pos_embed["type"]!r} is not a BaseSpatialEmbedding '
                    '(see mmbrain/models/fmri_encoders/voxel_embedding.py)'
                )
            if embed_cls.pooled_to_conv_tokens:
                pos_embed.update(kernel_size=conv_kernel, stride=conv_stride)
            self.pos_embed = MODELS.build(pos_embed)
        self.transformer = MultiScaleFMRITransformer(
            embed_dims, num_heads, window_size, window_stride, num_levels, mlp_ratio, dropout, window_count
        )

    def embed(self, fmri: Tensor, xyz: Optional[Tensor], voxel_mask: Optional[Tensor], subject_index: Tensor) -> Tensor:
        """Eq. 4 on [N, V] signals; ``xyz`` [S, V, 3] (or None) / ``voxel_mask`` [S, V] per subject row."""
        tokens = self.feature_encoding(fmri)
        if self.pos_embed is not None:
            emb = self.pos_embed(tokens, xyz, voxel_mask)
            tokens = tokens + (emb[subject_index] if self.pos_embed.per_subject else emb)
        return tokens


@MODELS.register_module()
class BrainformerEncoder(BaseFMRIEncoder):
    """Brainformer fMRI encoder (Sec. 3.2, Fig. 2-3).

    For every ROI group ``k`` (own weights per ROI): ``r^k = Conv1D(m^k) + v(m^k)`` (Eq. 2-4), then the
    Multi-scale fMRI Transformer (Algorithm 1) gives ``q̄^k``; a TransBlock over ``[q̄^k]_k`` gives the brain
    cognitive features ``q`` (Sec. 3.2.4). Ragged voxel counts (subjects differ) are handled with padding
    masks; any number of ROIs works.

    Args:
        roi_names (Sequence[str]): ROI groups, in order (keys of the batch's ``fmri`` dict).
        embed_dims (int): ``d_r`` (768 in the paper).
        num_heads (int): Attention heads of every TransBlock.
        conv_kernel (int): Conv1D kernel (32).
        conv_stride (int): Conv1D stride (16).
        window_size (int): ``w`` (64).
        window_stride (int): ``s`` (32).
        num_levels (int): ``h`` (2).
        mlp_ratio (float): MLP ratio of the TransBlocks.
        dropout (float): Dropout of the TransBlocks.
        pos_embed (dict, optional): ``dict(type='Voxel3DEmbedding')`` (the paper),
            ``'LearnedPositionalEmbedding'`` / ``'SinusoidalPositionalEmbedding'`` (Table 3 ablation) or None.
        window_count (str): How many windows each level of Algorithm 1 cuts: ``'cover'`` (default; the fewest that
            reach the end of the sequence) or ``'printed'`` (the printed loop ``i = 0, ..., L/s``: more, shrinking
            windows at the end; 20 000 voxels give levels of 1249, 40, 2 tokens instead of 1249, 39, 1). See
            ``mmbrain/models/fmri_encoders/windows.py``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(
        self,
        roi_names: Sequence[str],
        embed_dims: int = 768,
        num_heads: int = 12,
        conv_kernel: int = 32,
        conv_stride: int = 16,
        window_size: int = 64,
        window_stride: int = 32,
        num_levels: int = 2,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        pos_embed: Optional[dict] = dict(type='Voxel3DEmbedding', coord_scale=0.01),  # noqa: B006
        window_count: str = 'cover',
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(roi_names, embed_dims, init_cfg=init_cfg)
        self.rois = nn.ModuleDict(
            {
                name: ROIEncoder(
                    embed_dims,
                    num_heads,
                    conv_kernel,
                    conv_stride,
                    window_size,
                    window_stride,
                    num_levels,
                    mlp_ratio,
                    dropout,
                    pos_embed,
                    window_count,
                )
                for name in self.roi_names
            }
        )
        self.roi_transformer = ROITransformer(embed_dims, num_heads, mlp_ratio, dropout)
        first = self.rois[self.roi_names[0]].pos_embed
        self.needs_xyz = first is not None and first.needs_xyz

    @staticmethod
    def _subject_voxel_mask(voxel_counts: Tensor, subject_index: Tensor, num_subjects: int, width: int) -> Tensor:
        """Real-voxel mask [S, V] of each subject row from the per-sample counts."""
        per_subject = voxel_counts.new_zeros(num_subjects).scatter_reduce(0, subject_index, voxel_counts, reduce='amax')
        return torch.arange(width, device=voxel_counts.device) < per_subject[:, None]

    def forward(
        self,
        fmri: Dict[str, Tensor],
        fmri_mask: Dict[str, Tensor],
        xyz: Optional[Dict[str, Tensor]],
        subject_index: Tensor,
    ) -> Tuple[Tensor, Tensor]:
        """Encode a batch (format of docs/architecture.md).

        Args:
            fmri (dict[str, Tensor]): ``{G: [B, V_G]}`` zero-padded signals.
            fmri_mask (dict[str, Tensor]): ``{G: Bool [B, V_G]}``, True for real voxels (a prefix).
            xyz (dict[str, Tensor], optional): ``{G: [S, V_G, 3]}`` coordinates (mm), one row per distinct
                subject; needed by the 3D voxel embedding only.
            subject_index (Tensor): Long [B], row of ``xyz`` of each sample.

        Returns:
            tuple[Tensor, Tensor]: ``q`` [B, d_r] and the ROI features ``q̄`` [B, K, d_r].
        """
        self.check_inputs(fmri, fmri_mask, xyz, subject_index)
        roi_feats = []
        for name in self.roi_names:
            mask = fmri_mask[name]
            counts = mask.sum(dim=1)
            roi = self.rois[name]
            coords, voxel_mask = None, None
            if xyz is not None:
                coords = xyz[name]
                voxel_mask = self._subject_voxel_mask(counts, subject_index, coords.shape[0], mask.shape[1])
            tokens = roi.embed(fmri[name].masked_fill(~mask, 0), coords, voxel_mask, subject_index)
            roi_feats.append(roi.transformer(tokens, roi.feature_encoding.num_tokens(counts)))
        roi_feats = torch.stack(roi_feats, dim=1)
        return self.roi_transformer(roi_feats), roi_feats

    def forward_unbatched(
        self,
        fmri: Dict[str, Tensor],
        fmri_mask: Dict[str, Tensor],
        xyz: Optional[Dict[str, Tensor]],
        subject_index: Tensor,
    ) -> Tuple[Tensor, Tensor]:
        """The same encoder without batching: no padding, a Python loop over the windows (Algorithm 1).

        Samples are grouped by subject (equal true voxel counts, so no padding); each group's signals are cut
        to their true length and run through :meth:`MultiScaleFMRITransformer.forward_unbatched`. Used as the
        reference of the equivalence test and as the baseline of ``benchmarks/bench_encoder.py``.
        Arguments and returns as :meth:`forward`.
        """
        self.check_inputs(fmri, fmri_mask, xyz, subject_index)
        counts = {name: fmri_mask[name].sum(dim=1).tolist() for name in self.roi_names}
        groups: Dict[tuple, List[int]] = {}
        for i, subject in enumerate(subject_index.tolist()):
            groups.setdefault((subject,) + tuple(counts[n][i] for n in self.roi_names), []).append(i)
        roi_feats = fmri[self.roi_names[0]].new_zeros(len(subject_index), len(self.roi_names), self.embed_dims)
        for (subject, *lengths), rows in groups.items():
            rows_t = torch.tensor(rows, device=subject_index.device)
            for k, (name, n) in enumerate(zip(self.roi_names, lengths)):
                if n == 0:  # an ROI without voxels keeps q̄^k = 0, as in forward()
                    continue
                roi = self.rois[name]
                voxel_mask = torch.ones(1, n, dtype=torch.bool, device=rows_t.device)
                coords = None if xyz is None else xyz[name][subject : subject + 1, :n]
                tokens = roi.embed(fmri[name][rows_t, :n], coords, voxel_mask, torch.zeros_like(rows_t))
                roi_feats[rows_t, k] = roi.transformer.forward_unbatched(tokens)
        return self.roi_transformer(roi_feats), roi_feats

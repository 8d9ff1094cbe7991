# Copyright (c) mmbrain contributors. All rights reserved.
"""The contracts of the fMRI tower: :class:`BaseFMRIEncoder` (what an algorithm may call) and
:class:`BaseSpatialEmbedding` (what the Brainformer encoder adds to its Conv1D tokens, Eq. 4)."""

from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn


class BaseFMRIEncoder(BaseModule, metaclass=ABCMeta):
    """An fMRI encoder: the batch of ``docs/architecture.md`` to the brain features ``q`` and the ROI features.

    Subclasses set their layers in ``__init__`` and implement :meth:`forward`; algorithms
    (``BrainformerPretrainer``, the inference APIs) rely only on :attr:`roi_names`, :attr:`embed_dims` and the
    forward signature. :meth:`check_inputs` checks shapes only (no value is read back from the device), so it can
    stay in a compiled or CUDA-graph-captured forward.

    Args:
        roi_names (Sequence[str]): ROI groups, in order: the keys read from the batch, the order of ``q̄^k``.
        embed_dims (int): ``d_r``, the width of ``q`` and of every ``q̄^k``.
        init_cfg (dict, optional): mmengine init config.
    """

    #: Whether :meth:`forward` reads the voxel coordinates ``xyz`` (then a batch without them is an error).
    needs_xyz: bool = False

    def __init__(self, roi_names: Sequence[str], embed_dims: int, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = self.__class__.__name__
        if isinstance(roi_names, str) or not roi_names:
            raise ValueError(f'{name}: roi_names must be a non-empty sequence of ROI group names, got {roi_names!r}')
        if len(set(roi_names)) != len(roi_names):
            raise ValueError(f'{name}: roi_names has duplicates: {list(roi_names)}')
        if int(embed_dims) < 1:
            raise ValueError(f'{name}: embed_dims must be positive, got {embed_dims}')
        self.roi_names: List[str] = list(roi_names)
        self.embed_dims = int(embed_dims)

    @abstractmethod
    def forward(
        self,
        fmri: Dict[str, Tensor],
        fmri_mask: Dict[str, Tensor],
        xyz: Optional[Dict[str, Tensor]],
        subject_index: Optional[Tensor],
    ) -> Tuple[Tensor, Tensor]:
        """Encode a batch (format of ``docs/architecture.md``).

        Args:
            fmri (dict[str, Tensor]): ``{G: [B, V_G]}`` zero-padded signals.
            fmri_mask (dict[str, Tensor]): ``{G: Bool [B, V_G]}``, True for real voxels (a prefix).
            xyz (dict[str, Tensor], optional): ``{G: [S, V_G, 3]}`` coordinates (mm), one row per distinct subject.
            subject_index (Tensor, optional): Long [B], row of ``xyz`` of each sample.

        Returns:
            tuple[Tensor, Tensor]: ``q`` [B, d_r] and the ROI features ``q̄`` [B, K, d_r], K = ``len(roi_names)``.
        """

    def check_inputs(
        self,
        fmri: Dict[str, Tensor],
        fmri_mask: Dict[str, Tensor],
        xyz: Optional[Dict[str, Tensor]],
        subject_index: Optional[Tensor],
    ) -> None:
        """Raise a clear error when the batch lacks an ROI group or its tensors disagree in shape."""
        name = self.__class__.__name__
        if self.needs_xyz and xyz is None:
            raise ValueError(
                f'{name}: needs voxel coordinates but the batch has no `xyz` (converted files without '
                'rois/<group>/xyz); use an encoder or pos_embed without coordinates'
            )
        batch = None
        for roi in self.roi_names:
            if roi not in fmri or roi not in fmri_mask or (xyz is not None and roi not in xyz):
                raise KeyError(
                    f'{name}: ROI group {roi!r} is missing from the batch (fmri has {sorted(fmri)}); '
                    "check `roi_names` against the dataset's groups"
                )
            signal, mask = fmri[roi], fmri_mask[roi]
            if signal.dim() != 2 or mask.shape != signal.shape:
                raise ValueError(
                    f'{name}: ROI {roi!r}: fmri {tuple(signal.shape)} and fmri_mask '
                    f'{tuple(mask.shape)} must both be [B, V]'
                )
            if batch is not None and signal.shape[0] != batch:
                raise ValueError(f'{name}: ROI {roi!r} has {signal.shape[0]} samples, the others {batch}')
            batch = signal.shape[0]
            if xyz is not None and (xyz[roi].dim() != 3 or tuple(xyz[roi].shape[1:]) != (signal.shape[1], 3)):
                raise ValueError(f'{name}: ROI {roi!r}: xyz {tuple(xyz[roi].shape)} must be [S, {signal.shape[1]}, 3]')
        if subject_index is not None and tuple(subject_index.shape) != (batch,):
            raise ValueError(f'{name}: subject_index {tuple(subject_index.shape)} must be [{batch}]')
        if xyz is not None and subject_index is None:
            raise ValueError(f'{name}: the batch has `xyz` but no `subject_index` (its row of each sample)')


class BaseSpatialEmbedding(nn.Module, metaclass=ABCMeta):
    """A spatial embedding added to one ROI's Conv1D tokens (Eq. 4).

    ``forward(tokens, xyz, voxel_mask)`` takes the Conv1D tokens ``[N, L, d_r]``, the subjects' coordinates
    ``[S, V, 3]`` (or None) and their real-voxel mask ``[S, V]`` and returns what is added to the tokens:

    - :attr:`per_subject` True: ``[S, L, d_r]``, one row per distinct subject of the batch (it depends on that
      subject's voxels); the encoder gathers it per sample with ``subject_index``.
    - :attr:`per_subject` False: ``[1, L, d_r]``, the same for every sample (it depends only on token positions).

    :attr:`pooled_to_conv_tokens` True means the embedding is defined per voxel and averaged over the windows of
    the Conv1D (``kernel_size``, ``stride``) to reach token resolution; the encoder then passes its Conv1D kernel
    and stride to the embedding's constructor. :attr:`needs_xyz` says whether coordinates are read.
    """

    per_subject: bool = False
    pooled_to_conv_tokens: bool = False
    needs_xyz: bool = False

    @abstractmethod
    def forward(self, tokens: Tensor, xyz: Optional[Tensor], voxel_mask: Optional[Tensor]) -> Tensor:
        """The embedding added to ``tokens`` [N, L, d_r]: [S, L, d_r] or [1, L, d_r] (see the class docstring)."""

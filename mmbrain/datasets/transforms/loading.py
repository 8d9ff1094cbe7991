# Copyright (c) mmbrain contributors. All rights reserved.
"""Loading transforms of NSD samples: the stimulus image and the per-ROI responses with their coordinates.

Both read through :func:`~mmbrain.datasets.row_reader.get_row_reader` (the responses through
:class:`~mmbrain.datasets.converted_file.ConvertedSubject`), so files are opened in the worker process that reads
them, on first use, never before a DataLoader fork.
"""

import os
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ..converted_file import ConvertedSubject
from ..row_reader import get_row_reader

_INTERPOLATION = dict(
    nearest=cv2.INTER_NEAREST, bilinear=cv2.INTER_LINEAR, bicubic=cv2.INTER_CUBIC, area=cv2.INTER_AREA
)


@TRANSFORMS.register_module()
class LoadNSDStimulus(BaseTransform):
    """Read ``imgBrick[nsd_id]`` and resize it to ``img_size`` (no augmentation: the response is to that image).

    Required keys: ``stimuli_file``, ``nsd_id``. Added keys: ``img`` (H, W, 3) uint8 in ``color_order``,
    ``img_shape``, ``ori_shape``.

    Args:
        img_size: output side (int) or (width, height); None keeps the stored size.
        interpolation: ``bilinear`` (mmcv's default), ``nearest``, ``bicubic`` or ``area`` (best for shrinking,
            but ~10x slower from NSD's 425 px).
        color_order: ``bgr`` (mmcv / mmpretrain convention; NSD stores RGB) or ``rgb``.
    """

    def __init__(
        self,
        img_size: Union[int, Tuple[int, int], None] = 224,
        interpolation: str = 'bilinear',
        color_order: str = 'bgr',
    ):
        if interpolation not in _INTERPOLATION:
            raise ValueError(f'interpolation must be one of {sorted(_INTERPOLATION)}, got {interpolation!r}')
        if color_order not in ('bgr', 'rgb'):
            raise ValueError(f'color_order must be "bgr" or "rgb", got {color_order!r}')
        self.size = (img_size, img_size) if isinstance(img_size, int) else (tuple(img_size) if img_size else None)
        self.interpolation = interpolation
        self.color_order = color_order

    def read_rgb(self, results: dict) -> np.ndarray:
        """The stimulus as stored, ``(H, W, 3)`` uint8 RGB (the inferencers' loader reads any image instead)."""
        return get_row_reader(results['stimuli_file'], 'imgBrick')[results['nsd_id']]  # RGB, contiguous

    def transform(self, results: dict) -> dict:
        img = self.read_rgb(results)
        ori_shape = img.shape[:2]
        resize = self.size is not None and tuple(self.size) != (img.shape[1], img.shape[0])
        # Swap channels on the smaller of the two images (cvtColor is a fast contiguous copy).
        swap_first = resize and self.size[0] * self.size[1] > img.shape[0] * img.shape[1]
        if self.color_order == 'bgr' and swap_first:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        if resize:
            img = cv2.resize(img, self.size, interpolation=_INTERPOLATION[self.interpolation])
        if self.color_order == 'bgr' and not swap_first:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = ori_shape
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(img_size={self.size}, interpolation={self.interpolation!r}, '
            f'color_order={self.color_order!r})'
        )


_subjects: Dict[str, ConvertedSubject] = {}
os.register_at_fork(after_in_child=_subjects.clear)


def _converted_subject(path: str) -> ConvertedSubject:
    """The converted file ``path``, opened (header checked) once per process; its coordinates are cached in it."""
    if path not in _subjects:
        _subjects[path] = ConvertedSubject(path)
    return _subjects[path]


def check_finite_responses(fmri: Dict[str, np.ndarray], path: str, row: int) -> None:
    """Refuse a row with NaN or Inf betas: one of them turns the whole model NaN, and training would still exit 0.

    Raises:
        ValueError: names the converted file, the row, the ROI group and the first bad voxel (column).
    """
    for group, values in fmri.items():
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f'{path}: row {row}, ROI group {group}: {int(bad.sum())} non-finite betas (NaN/Inf, '
                f'first at voxel column {int(np.flatnonzero(bad)[0])}); mmbrain refuses them rather than '
                "train on them: convert the subject again from NSD's files"
            )


@TRANSFORMS.register_module()
class LoadNSDResponses(BaseTransform):
    """Read one row of betas per ROI group and the subject's voxel coordinates.

    Required keys: ``brain_file``, ``row`` (and ``groups`` unless given here). Added keys: ``fmri``
    ``{group: (V_G,) float32}``, ``xyz`` ``{group: (V_G, 3) float32}`` (the same array object for every sample of a
    subject in a process; absent when the file has no coordinates, e.g. Algonauts without an fsaverage surface).

    Args:
        groups: ROI groups to read; default the dataset's ``groups``.
        with_xyz: also load coordinates (Brain 3D Voxel Embedding, paper Sec. 3.2.2).

    Raises:
        ValueError: the row holds NaN or Inf betas (:func:`check_finite_responses`).
    """

    def __init__(self, groups: Optional[Sequence[str]] = None, with_xyz: bool = True):
        self.groups = tuple(groups) if groups else None
        self.with_xyz = with_xyz

    def transform(self, results: dict) -> dict:
        subject, row = _converted_subject(results['brain_file']), results['row']
        groups = self.groups or results['groups']
        results['fmri'] = {g: subject.betas_row(g, row) for g in groups}
        check_finite_responses(results['fmri'], results['brain_file'], row)
        if self.with_xyz:
            xyz = {g: subject.xyz(g) for g in groups}
            if all(v is not None for v in xyz.values()):
                results['xyz'] = xyz
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(groups={self.groups}, with_xyz={self.with_xyz})'

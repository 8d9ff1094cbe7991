# Copyright (c) mmbrain contributors. All rights reserved.
"""``PackBrainInputs``: an NSD sample in the format of ``docs/architecture.md``."""

import os
from typing import Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.structures import DataSample

from ...registry import TRANSFORMS

_xyz_tensors: dict = {}
os.register_at_fork(after_in_child=_xyz_tensors.clear)


def _shared_tensor(array: np.ndarray) -> torch.Tensor:
    """One tensor per coordinate array (arrays are cached per subject), so samples of a subject share it."""
    key = id(array)
    hit = _xyz_tensors.get(key)
    if hit is None or hit[0] is not array:
        hit = _xyz_tensors[key] = (array, torch.from_numpy(array))
    return hit[1]


@TRANSFORMS.register_module()
class PackBrainInputs(BaseTransform):
    """Pack ``img``, ``fmri`` and ``xyz`` into ``inputs`` and the sample's identity into a ``DataSample``.

    Output::

        dict(inputs=dict(img=Tensor[3, H, W] uint8, fmri={G: Tensor[V_G] float32}, xyz={G: Tensor[V_G, 3]}),
             data_samples=DataSample(metainfo: subject, nsd_id, session, sample_idx, shared1000))

    Args:
        meta_keys: result keys copied into the ``DataSample`` metainfo (those present).
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = (
            'subject',
            'nsd_id',
            'session',
            'sample_idx',
            'shared1000',
            'row',
            'img_shape',
            'ori_shape',
        ),
    ):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs = {}
        if 'img' in results:
            img = results['img']
            # HWC -> contiguous CHW; cv2.split is ~2x faster than a transposed copy (numpy or torch).
            inputs['img'] = torch.from_numpy(np.stack(cv2.split(img)) if img.ndim == 3 else img[None])
        if 'fmri' in results:
            inputs['fmri'] = {g: torch.from_numpy(v) for g, v in results['fmri'].items()}
        if 'xyz' in results:
            inputs['xyz'] = {g: _shared_tensor(v) for g, v in results['xyz'].items()}
        sample = DataSample()
        for k in self.meta_keys:  # immutable values: set_field, not the deep copy of DataSample(metainfo=...)
            if k in results:
                sample.set_field(results[k], k, field_type='metainfo')
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'

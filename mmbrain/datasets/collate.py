# Copyright (c) mmbrain contributors. All rights reserved.
"""``brain_collate``: batch NSD samples whose subjects have different voxel counts (``docs/architecture.md``)."""

from typing import Dict, List, Sequence

import torch

from ..registry import FUNCTIONS


def _pad_stack(tensors: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    out = tensors[0].new_zeros((len(tensors), length) + tuple(tensors[0].shape[1:]))
    for i, t in enumerate(tensors):
        out[i, :t.shape[0]] = t
    return out


@FUNCTIONS.register_module()
def brain_collate(data_batch: Sequence[dict]) -> dict:
    """Collate packed NSD samples (:class:`~mmbrain.datasets.transforms.PackBrainInputs`) into one batch.

    Ragged voxel counts are zero-padded with a mask; coordinates are kept once per distinct subject of the batch
    (in order of first appearance), so only one copy per subject crosses the worker boundary::

        dict(inputs=dict(img=Tensor[B, 3, H, W] uint8,
                         fmri={G: Tensor[B, Vmax_G]}, fmri_mask={G: BoolTensor[B, Vmax_G]},
                         xyz={G: Tensor[S, Vmax_G, 3]}, subject_index=LongTensor[B]),
             data_samples=[DataSample, ...])

    ``xyz`` is absent when the samples carry no coordinates; ``img`` when they carry no image.
    """
    if not data_batch:
        raise ValueError('brain_collate got an empty batch')
    inputs: List[dict] = [d['inputs'] for d in data_batch]
    samples = [d['data_samples'] for d in data_batch]
    subjects = [s.subject for s in samples]
    distinct = list(dict.fromkeys(subjects))
    first = [subjects.index(s) for s in distinct]
    batch: Dict[str, object] = {}
    if 'img' in inputs[0]:
        batch['img'] = torch.stack([x['img'] for x in inputs])
    if 'fmri' in inputs[0]:
        fmri, mask, xyz = {}, {}, {}
        for g in inputs[0]['fmri']:
            rows = [x['fmri'][g] for x in inputs]
            vmax = max(r.shape[0] for r in rows)
            fmri[g] = _pad_stack(rows, vmax)
            lengths = torch.tensor([r.shape[0] for r in rows])
            mask[g] = torch.arange(vmax)[None, :] < lengths[:, None]
            if 'xyz' in inputs[0]:
                xyz[g] = _pad_stack([inputs[i]['xyz'][g] for i in first], vmax)
        batch['fmri'] = fmri
        batch['fmri_mask'] = mask
        if xyz:
            batch['xyz'] = xyz
    batch['subject_index'] = torch.tensor([distinct.index(s) for s in subjects], dtype=torch.long)
    return dict(inputs=batch, data_samples=samples)

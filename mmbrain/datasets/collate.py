# Copyright (c) mmbrain contributors. All rights reserved.
"""``brain_collate``: batch NSD samples whose subjects have different voxel counts (``docs/architecture.md``)."""

from typing import Dict, List, Sequence, Tuple

import torch
from torch.utils.data import get_worker_info

from ..registry import FUNCTIONS


def _empty(shape: Tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor; in a DataLoader worker, in shared memory, so that sending it costs no copy (as
    torch's ``default_collate`` does)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=like.dtype)
    numel = 1
    for n in shape:
        numel *= n
    return like.new(like._typed_storage()._new_shared(numel, device=like.device)).resize_(shape)


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.stack(list(tensors), out=_empty((len(tensors), ) + tuple(tensors[0].shape), tensors[0]))


def _pad_stack(tensors: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    out = _empty((len(tensors), length) + tuple(tensors[0].shape[1:]), tensors[0])
    for i, t in enumerate(tensors):
        out[i, :t.shape[0]] = t
        out[i, t.shape[0]:] = 0
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
    subject_index = torch.tensor([distinct.index(s) for s in subjects], dtype=torch.long)
    members = [[b for b, s in enumerate(subjects) if s == d] for d in distinct]
    batch: Dict[str, object] = {}
    if 'img' in inputs[0]:
        batch['img'] = _stack([x['img'] for x in inputs])
    if 'fmri' in inputs[0]:
        fmri, mask, xyz = {}, {}, {}
        for g in inputs[0]['fmri']:
            if len(distinct) == 1:
                fmri[g] = _stack([x['fmri'][g] for x in inputs])
            else:  # one stack per subject (a subject's rows have equal lengths), then zero-padded placement
                parts = [torch.stack([inputs[b]['fmri'][g] for b in idx]) for idx in members]
                fmri[g] = _empty((len(inputs), max(p.shape[1] for p in parts)), parts[0])
                for idx, part in zip(members, parts):
                    fmri[g][idx, :part.shape[1]] = part
                    fmri[g][idx, part.shape[1]:] = 0
            lengths = torch.tensor([inputs[i]['fmri'][g].shape[0] for i in first])[subject_index]
            mask[g] = torch.arange(fmri[g].shape[1])[None, :] < lengths[:, None]
            if 'xyz' in inputs[0]:
                xyz[g] = _pad_stack([inputs[i]['xyz'][g] for i in first], fmri[g].shape[1])
        batch['fmri'] = fmri
        batch['fmri_mask'] = mask
        if xyz:
            batch['xyz'] = xyz
    batch['subject_index'] = subject_index
    return dict(inputs=batch, data_samples=samples)

# Copyright (c) mmbrain contributors. All rights reserved.
"""``brain_collate``: batch NSD samples whose subjects have different voxel counts (``docs/architecture.md``)."""

import math
from typing import Dict, List, Sequence, Tuple

import torch
from torch.utils.data import get_worker_info

from ..registry import FUNCTIONS

Shape = Tuple[int, ...]


def _buffers(shapes: Sequence[Shape], dtype: torch.dtype) -> List[torch.Tensor]:
    """Contiguous tensors of the given shapes, all carved from one storage.

    In a DataLoader worker the storage is shared memory (as in torch's ``default_collate``): sending the batch
    to the main process then costs one file descriptor per dtype instead of one copy and one descriptor per
    tensor, which matters with 3 tensors per ROI group.
    """
    sizes = [math.prod(s) for s in shapes]
    if get_worker_info() is None:
        flat = torch.empty(sum(sizes), dtype=dtype)
    else:
        storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(sum(sizes), device='cpu')
        flat = torch.empty(0, dtype=dtype).set_(storage)
    return [part.view(shape) for part, shape in zip(flat.split(sizes), shapes)]


@FUNCTIONS.register_module()
def brain_collate(data_batch: Sequence[dict]) -> dict:
    """Collate packed NSD samples (:class:`~mmbrain.datasets.transforms.PackBrainInputs`) into one batch.

    Ragged voxel counts are zero-padded with a mask; coordinates are kept once per distinct subject of the batch
    (in order of first appearance), so only one copy per subject crosses the worker boundary::

        dict(inputs=dict(img=Tensor[B, 3, H, W] uint8,
                         fmri={G: Tensor[B, Vmax_G]}, fmri_mask={G: BoolTensor[B, Vmax_G]},
                         xyz={G: Tensor[S, Vmax_G, 3]}, subject_index=LongTensor[B]),
             data_samples=[DataSample, ...])

    ``xyz`` is absent when the samples carry no coordinates; ``img`` when they carry no image. Within a subject
    every sample has the same voxel counts (one converted file per subject).
    """
    if not data_batch:
        raise ValueError('brain_collate got an empty batch')
    inputs: List[dict] = [d['inputs'] for d in data_batch]
    samples = [d['data_samples'] for d in data_batch]
    subjects = [s.subject for s in samples]
    distinct = list(dict.fromkeys(subjects))
    first = [subjects.index(s) for s in distinct]  # a representative sample of each distinct subject
    members = [[b for b, s in enumerate(subjects) if s == d] for d in distinct]
    subject_index = torch.tensor([distinct.index(s) for s in subjects], dtype=torch.long)
    n = len(inputs)
    batch: Dict[str, object] = {}
    if 'img' in inputs[0]:
        imgs = [x['img'] for x in inputs]
        batch['img'] = torch.stack(imgs, out=_buffers([(n,) + tuple(imgs[0].shape)], imgs[0].dtype)[0])
    if 'fmri' in inputs[0]:
        groups = list(inputs[0]['fmri'])
        counts = {g: [inputs[i]['fmri'][g].shape[0] for i in first] for g in groups}
        vmax = {g: max(c) for g, c in counts.items()}
        with_xyz = 'xyz' in inputs[0]
        shapes = [(n, vmax[g]) for g in groups] + ([(len(distinct), vmax[g], 3) for g in groups] if with_xyz else [])
        floats = _buffers(shapes, torch.float32)
        masks = _buffers([(n, vmax[g]) for g in groups], torch.bool)
        fmri, mask, xyz = {}, {}, {}
        for k, g in enumerate(groups):
            out = fmri[g] = floats[k]
            if len(distinct) == 1:
                torch.stack([x['fmri'][g] for x in inputs], out=out)
            else:  # one stack per subject, placed into the zero-padded batch
                out.zero_()
                for idx, count in zip(members, counts[g]):
                    out[idx, :count] = torch.stack([inputs[b]['fmri'][g] for b in idx])
            lengths = torch.tensor(counts[g])[subject_index]
            mask[g] = torch.lt(torch.arange(vmax[g])[None, :], lengths[:, None], out=masks[k])
            if with_xyz:
                xyz[g] = floats[len(groups) + k]
                xyz[g].zero_()
                for row, i in enumerate(first):
                    xyz[g][row, : counts[g][row]] = inputs[i]['xyz'][g]
        batch.update(fmri=fmri, fmri_mask=mask)
        if with_xyz:
            batch['xyz'] = xyz
    batch['subject_index'] = subject_index
    return dict(inputs=batch, data_samples=samples)

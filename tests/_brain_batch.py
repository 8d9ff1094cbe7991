# Copyright (c) mmbrain contributors. All rights reserved.
"""Random batches in the brain_collate format (docs/architecture.md) for the model tests."""

from typing import Dict, Sequence

import torch


def make_brain_batch(
    voxels: Dict[int, Dict[str, int]], subjects: Sequence[int], seed: int = 0, extra_padding: int = 0
) -> dict:
    """Batch with ``voxels[subject][roi]`` real voxels per subject row, samples of ``subjects`` (row indices).

    Coordinates are random millimetres; signals are N(0, 1) on real voxels and zero on padding.
    """
    gen = torch.Generator().manual_seed(seed)
    rois = list(next(iter(voxels.values())))
    subject_index = torch.tensor(list(subjects), dtype=torch.long)
    fmri, mask, xyz = {}, {}, {}
    for roi in rois:
        width = max(v[roi] for v in voxels.values()) + extra_padding
        xyz[roi] = torch.zeros(len(voxels), width, 3)
        for s, counts in voxels.items():
            xyz[roi][s, : counts[roi]] = torch.randn(counts[roi], 3, generator=gen) * 40
        fmri[roi] = torch.zeros(len(subject_index), width)
        mask[roi] = torch.zeros(len(subject_index), width, dtype=torch.bool)
        for b, s in enumerate(subjects):
            n = voxels[s][roi]
            fmri[roi][b, :n] = torch.randn(n, generator=gen)
            mask[roi][b, :n] = True
    return dict(fmri=fmri, fmri_mask=mask, xyz=xyz, subject_index=subject_index)

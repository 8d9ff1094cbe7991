# Copyright (c) mmbrain contributors. All rights reserved.
"""BrainEncodingMetric(voxelwise_file=...) writes the per-voxel figures' inputs, consistent with its summaries."""

import h5py
import numpy as np
import pytest
import torch

from mmbrain.evaluation.metrics import BrainEncodingMetric


def test_voxelwise_dump_matches_the_summaries(nsd_world, tmp_path):
    subject_file = nsd_world.converted_file(3)
    rng = np.random.default_rng(0)
    with h5py.File(subject_file, 'r') as f:
        voxels = {g: f['rois'][g]['label'].shape[0] for g in f['rois']}
        xyz = {g: f['rois'][g]['xyz'][()] for g in f['rois']}
    image_ids = np.repeat(np.arange(20), 2)  # each image twice: the noise ceiling is estimable
    signal = {g: rng.standard_normal((20, v)) for g, v in voxels.items()}
    samples = [
        dict(
            nsd_id=int(i),
            pred_fmri={
                g: torch.tensor(signal[g][i] + rng.standard_normal(v), dtype=torch.float32) for g, v in voxels.items()
            },
            gt_fmri={
                g: torch.tensor(signal[g][i] + rng.standard_normal(v), dtype=torch.float32) for g, v in voxels.items()
            },
        )
        for i in image_ids
    ]
    out = tmp_path / 'sub' / 'voxelwise.npz'
    metric = BrainEncodingMetric(subject_file=subject_file, voxelwise_file=str(out))
    metric.process({}, samples)
    results = metric.compute_metrics(metric.results)
    with np.load(out) as dump:
        for group, n in voxels.items():
            assert dump[f'{group}/r'].shape == (n,)
            assert dump[f'{group}/r'].mean() == pytest.approx(results[f'{group}/pearson_mean'])
            assert dump[f'{group}/noise_ceiling'].mean() == pytest.approx(results[f'{group}/noise_ceiling_mean'])
            np.testing.assert_array_equal(dump[f'{group}/xyz'], xyz[group])
    assert list(out.parent.iterdir()) == [out]  # written atomically: no temporary file left

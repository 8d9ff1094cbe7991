# Copyright (c) mmbrain contributors. All rights reserved.
"""Voxel-wise Pearson correlation, the encoding accuracy of Sec. 4.5 (PCC, following Algonauts 2023)."""

import numpy as np


def pearson_r(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson r between predicted and measured responses, one value per column (voxel).

    Args:
        pred: predicted responses, shape ``(N, V)``: N stimuli, V voxels.
        target: measured responses, same shape.

    Returns:
        float64 array ``(V,)``. A voxel whose prediction or measurement is constant over the N stimuli has no
        defined correlation; it is scored 0 (no linear relation), never NaN, so summaries stay comparable.

    Raises:
        ValueError: shapes differ, are not 2-D, or there are fewer than 2 stimuli.
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f'pred and target must be (N, V) arrays of one shape, got {pred.shape} and {target.shape}')
    if pred.shape[0] < 2:
        raise ValueError(f'Pearson r needs at least 2 stimuli, got {pred.shape[0]}')
    # numpy over all voxels at once; scipy.stats.pearsonr(axis=0) gives the same r (tested) but NaN and a warning
    # for a constant voxel, which this scores 0 (the rule above), so the summaries need no NaN handling.
    pred_c = pred - pred.mean(axis=0)
    target_c = target - target.mean(axis=0)
    cov = (pred_c * target_c).sum(axis=0)
    norm = np.sqrt((pred_c**2).sum(axis=0) * (target_c**2).sum(axis=0))
    r = np.zeros(pred.shape[1])
    defined = norm > 0
    r[defined] = cov[defined] / norm[defined]
    return np.clip(r, -1.0, 1.0)

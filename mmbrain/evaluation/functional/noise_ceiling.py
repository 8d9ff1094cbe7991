# Copyright (c) mmbrain contributors. All rights reserved.
"""NSD's noise ceiling and the Algonauts 2023 noise-normalised score.

The noise-ceiling SNR (ncsnr) of a voxel is estimated from repeated presentations of the same image as in the
NSD data paper (Allen et al., 2022): the noise variance is the variance across repetitions of one image, pooled
over images; the signal variance is what remains of the total variance. With ``n`` repetitions averaged per
test image, the ceiling on the explainable variance (in %) is

    NC = 100 * ncsnr**2 / (ncsnr**2 + (A/3 + B/2 + C/1) / (A + B + C)),

A/B/C being the numbers of test images with 3/2/1 repetitions, i.e. ``mean(1 / n)``. The Algonauts score of a
voxel is its squared Pearson r (negative r set to 0) as a percentage of NC, capped at 100.
"""
from typing import Tuple

import numpy as np


def ncsnr_from_repeats(betas: np.ndarray, stimulus_ids: np.ndarray) -> np.ndarray:
    """Noise-ceiling SNR per voxel from single-trial responses with repetitions.

    Args:
        betas: single-trial responses ``(T, V)``; NSD z-scores each voxel within each session first, so the
            total variance is ~1 (here it is computed, not assumed).
        stimulus_ids: ``(T,)`` image of each trial. Images seen once contribute to the total variance only.

    Returns:
        float64 ``(V,)``: ``sqrt(max(var_total - var_noise, 0)) / sqrt(var_noise)``.

    Raises:
        ValueError: mismatched shapes, or no image is repeated (the noise cannot be estimated).
    """
    betas = np.asarray(betas, dtype=np.float64)
    stimulus_ids = np.asarray(stimulus_ids)
    if betas.ndim != 2 or stimulus_ids.shape != (betas.shape[0], ):
        raise ValueError(f'betas must be (T, V) and stimulus_ids (T,), got {betas.shape} and {stimulus_ids.shape}')
    _, inverse, counts = np.unique(stimulus_ids, return_inverse=True, return_counts=True)
    repeated = counts[inverse] >= 2
    if not repeated.any():
        raise ValueError('no stimulus is repeated: the noise variance cannot be estimated')
    sums = np.zeros((counts.size, betas.shape[1]))
    np.add.at(sums, inverse, betas)
    means = sums / counts[:, None]
    residuals = betas[repeated] - means[inverse[repeated]]
    dof = int((counts[counts >= 2] - 1).sum())
    var_noise = (residuals**2).sum(axis=0) / dof
    var_total = betas.var(axis=0, ddof=1)
    var_signal = np.maximum(var_total - var_noise, 0.0)
    ncsnr = np.zeros(betas.shape[1])
    noisy = var_noise > 0
    ncsnr[noisy] = np.sqrt(var_signal[noisy] / var_noise[noisy])
    ncsnr[~noisy & (var_signal > 0)] = np.inf
    return ncsnr


def noise_ceiling(ncsnr: np.ndarray, n_repeats: np.ndarray) -> np.ndarray:
    """Noise ceiling (% of variance explainable) for test responses averaged over ``n_repeats`` trials each.

    Args:
        ncsnr: ``(V,)`` noise-ceiling SNR per voxel.
        n_repeats: ``(N,)`` number of trials averaged into each test image's response (all >= 1).

    Returns:
        float64 ``(V,)`` in [0, 100].
    """
    ncsnr = np.asarray(ncsnr, dtype=np.float64)
    n_repeats = np.asarray(n_repeats)
    if n_repeats.size == 0 or (n_repeats < 1).any():
        raise ValueError(f'n_repeats must be a non-empty array of counts >= 1, got {n_repeats!r}')
    noise_share = np.mean(1.0 / n_repeats)
    snr2 = ncsnr**2
    with np.errstate(invalid='ignore'):
        nc = np.where(np.isinf(snr2), 100.0, 100.0 * snr2 / (snr2 + noise_share))
    return nc


def algonauts_score(r: np.ndarray, nc: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Noise-normalised encoding accuracy per voxel (Algonauts 2023).

    Args:
        r: ``(V,)`` Pearson r of the predictions.
        nc: ``(V,)`` noise ceiling in % (:func:`noise_ceiling`).

    Returns:
        ``(score, valid)``: ``score`` ``(V,)`` = ``100 * max(r, 0)**2 / (nc / 100)`` capped at 100; ``valid`` marks
        voxels with a positive ceiling (a voxel with none has no explainable variance and no defined score; its
        score is NaN and it must be left out of averages).
    """
    r = np.asarray(r, dtype=np.float64)
    nc = np.asarray(nc, dtype=np.float64)
    if r.shape != nc.shape:
        raise ValueError(f'r and nc must have one shape, got {r.shape} and {nc.shape}')
    valid = nc > 0
    score = np.full(r.shape, np.nan)
    score[valid] = np.minimum(100.0 * np.maximum(r[valid], 0.0)**2 / (nc[valid] / 100.0), 100.0)
    return score, valid

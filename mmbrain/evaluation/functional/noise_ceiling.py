# Copyright (c) mmbrain contributors. All rights reserved.
"""NSD's noise ceiling and the Algonauts 2023 noise-normalised encoding accuracy (paper Sec. 4.5).

The only definitions of these quantities in mmbrain: the metric, the converter (which accumulates the variances
while streaming the sessions) and the synthetic world's ground truth all call them.

**ncsnr** (noise-ceiling SNR, NSD data paper, Allen et al. 2022): per voxel, the noise variance is the variance
across the repetitions of one image, pooled over the repeated images; the signal variance is what the noise
leaves of the total variance, floored at 0; ``ncsnr = sqrt(var_signal) / sqrt(var_noise)``. Both variances are
*sample* variances (``ddof=1``: the across-repetition variance normalised by ``n_i - 1``, pooled with
``sum(n_i - 1)`` degrees of freedom, as NSD's MATLAB ``var``; the total variance normalised by ``T - 1``, which is
exactly 1 for responses z-scored with the sample standard deviation, NSD's ``zscore``). Both are unbiased, so on
data of known SNR (the synthetic world) the estimate converges to the truth.

**Noise ceiling** of test responses that are averages of ``n`` trials each (NSD; Algonauts 2023 devkit):
``NC = 100 * ncsnr**2 / (ncsnr**2 + mean(1 / n))``, in % of the variance; ``mean(1 / n)`` is the devkit's
``(A/3 + B/2 + C/1) / (A + B + C)`` with A/B/C the test images shown 3/2/1 times.

**Algonauts score** (the challenge devkit's ``test_encoding`` step, Gifford et al. 2023): per vertex, the Pearson r
of the predictions with negative values set to 0 and squared; the noise ceiling as a fraction (``NC / 100``) with
zero ceilings replaced by ``1e-14`` (the devkit's guard against division by zero: such a vertex is kept, and
scores 0 when ``r <= 0`` and 100 otherwise); ``100 * r**2 / NC``, values above 100 set to 100. The devkit plots
and summarises vertices by their median; mmbrain reports the median (``algonauts_score``) and, separately named,
the mean (``algonauts_score_mean``).
"""

import numpy as np

#: What the devkit puts in place of a zero noise ceiling (a fraction) before dividing by it.
DEVKIT_ZERO_CEILING = 1e-14


def ncsnr_from_variances(var_total: np.ndarray, var_noise: np.ndarray) -> np.ndarray:
    """NSD's ncsnr from a voxel's total and noise (sample) variances.

    Args:
        var_total: ``(V,)`` variance of the single-trial responses over all trials (``ddof=1``).
        var_noise: ``(V,)`` pooled variance across repetitions of an image (``ddof=1`` per image).

    Returns:
        float64 ``(V,)``: ``sqrt(max(var_total - var_noise, 0) / var_noise)``; 0 where ``var_noise`` is 0 and the
        voxel has no variance at all (constant, e.g. outside the brain), ``inf`` where only the noise is 0.
    """
    var_total = np.asarray(var_total, dtype=np.float64)
    var_noise = np.asarray(var_noise, dtype=np.float64)
    var_signal = np.maximum(var_total - var_noise, 0.0)
    ncsnr = np.zeros(var_signal.shape)
    noisy = var_noise > 0
    ncsnr[noisy] = np.sqrt(var_signal[noisy] / var_noise[noisy])
    ncsnr[~noisy & (var_signal > 0)] = np.inf
    return ncsnr


def ncsnr_from_repeats(betas: np.ndarray, stimulus_ids: np.ndarray) -> np.ndarray:
    """Noise-ceiling SNR per voxel from single-trial responses with repetitions (see the module docstring).

    Args:
        betas: single-trial responses ``(T, V)``; NSD z-scores each voxel within each session first, so the
            total variance is ~1 (here it is computed, not assumed).
        stimulus_ids: ``(T,)`` image of each trial. Images seen once contribute to the total variance only.

    Returns:
        float64 ``(V,)``, :func:`ncsnr_from_variances` of the sample variances.

    Raises:
        ValueError: mismatched shapes, or no image is repeated (the noise cannot be estimated).
    """
    betas = np.asarray(betas, dtype=np.float64)
    stimulus_ids = np.asarray(stimulus_ids)
    if betas.ndim != 2 or stimulus_ids.shape != (betas.shape[0],):
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
    return ncsnr_from_variances(betas.var(axis=0, ddof=1), (residuals**2).sum(axis=0) / dof)


def noise_ceiling(ncsnr: np.ndarray, n_repeats: np.ndarray) -> np.ndarray:
    """Noise ceiling (% of variance explainable) for test responses averaged over ``n_repeats`` trials each.

    Args:
        ncsnr: ``(V,)`` noise-ceiling SNR per voxel.
        n_repeats: ``(N,)`` number of trials averaged into each test image's response (all >= 1); a single
            number applies to every image.

    Returns:
        float64 ``(V,)`` in [0, 100] (100 where ``ncsnr`` is infinite).
    """
    ncsnr = np.asarray(ncsnr, dtype=np.float64)
    n_repeats = np.atleast_1d(np.asarray(n_repeats))
    if n_repeats.size == 0 or (n_repeats < 1).any():
        raise ValueError(f'n_repeats must be a non-empty array of counts >= 1, got {n_repeats!r}')
    noise_share = np.mean(1.0 / n_repeats)
    snr2 = ncsnr**2
    with np.errstate(invalid='ignore'):
        return np.where(np.isinf(snr2), 100.0, 100.0 * snr2 / (snr2 + noise_share))


def algonauts_score(r: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """Noise-normalised encoding accuracy per vertex/voxel, exactly as the Algonauts 2023 devkit computes it.

    Args:
        r: ``(V,)`` Pearson r of the predictions.
        nc: ``(V,)`` noise ceiling in % (:func:`noise_ceiling`).

    Returns:
        float64 ``(V,)`` in [0, 100]: ``100 * max(r, 0)**2 / (nc / 100)`` capped at 100, a zero ceiling counting
        as :data:`DEVKIT_ZERO_CEILING` (see the module docstring). No voxel is dropped.
    """
    r = np.asarray(r, dtype=np.float64)
    nc = np.asarray(nc, dtype=np.float64)
    if r.shape != nc.shape:
        raise ValueError(f'r and nc must have one shape, got {r.shape} and {nc.shape}')
    if np.isnan(r).any() or np.isnan(nc).any() or (nc < 0).any():
        raise ValueError('r and nc must be finite numbers and nc >= 0 (the Algonauts score has no NaN rule)')
    r2 = np.maximum(r, 0.0) ** 2
    fraction = np.where(nc == 0, DEVKIT_ZERO_CEILING, nc / 100.0)
    return np.minimum(100.0 * r2 / fraction, 100.0)

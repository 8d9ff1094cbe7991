# Copyright (c) mmbrain contributors. All rights reserved.
"""Pearson r, NSD's noise ceiling and the Algonauts score against direct computations and simulated data."""

import numpy as np
import pytest

from mmbrain.evaluation.functional import (
    algonauts_score,
    ncsnr_from_repeats,
    ncsnr_from_variances,
    noise_ceiling,
    pearson_r,
)


def test_pearson_r_matches_numpy_corrcoef():
    rng = np.random.default_rng(0)
    target = rng.standard_normal((40, 7))
    pred = 0.5 * target + rng.standard_normal((40, 7)) * np.linspace(0.1, 3, 7)
    expected = [np.corrcoef(pred[:, v], target[:, v])[0, 1] for v in range(7)]
    np.testing.assert_allclose(pearson_r(pred, target), expected, rtol=1e-12, atol=1e-12)


def test_pearson_r_matches_scipy_per_voxel():
    from scipy.stats import pearsonr

    rng = np.random.default_rng(2)
    target = rng.standard_normal((25, 50))
    pred = rng.standard_normal((25, 50)) + target * rng.uniform(-1, 1, 50)
    np.testing.assert_allclose(pearson_r(pred, target), pearsonr(pred, target, axis=0).statistic, atol=1e-12)


def test_pearson_r_constant_voxel_scores_zero_and_bad_shapes_raise():
    rng = np.random.default_rng(1)
    target = rng.standard_normal((10, 3))
    pred = target.copy()
    pred[:, 1] = 4.0
    r = pearson_r(pred, target)
    assert r[1] == 0 and np.allclose(r[[0, 2]], 1)
    with pytest.raises(ValueError, match='one shape'):
        pearson_r(pred, target[:, :2])
    with pytest.raises(ValueError, match='at least 2'):
        pearson_r(pred[:1], target[:1])


def _simulate(true_ncsnr, repeats, rng):
    """Single trials of images whose response is signal (sd = ncsnr) + unit noise; also the noiseless signal."""
    signal = rng.standard_normal((len(repeats), true_ncsnr.size)) * true_ncsnr
    ids = np.repeat(np.arange(len(repeats)), repeats)
    trials = signal[ids] + rng.standard_normal((ids.size, true_ncsnr.size))
    return trials, ids, signal


def test_noise_ceiling_recovered_from_repetitions():
    rng = np.random.default_rng(2)
    true_ncsnr = np.linspace(0.3, 1.5, 12)
    repeats = rng.choice([1, 2, 3], size=30000, p=[0.2, 0.3, 0.5])
    trials, ids, signal = _simulate(true_ncsnr, repeats, rng)
    ncsnr = ncsnr_from_repeats(trials, ids)
    np.testing.assert_allclose(ncsnr, true_ncsnr, rtol=0.05, atol=0.05)  # sampling error of ~70k trials

    # The ceiling predicted for the averaged responses is what a perfect model (the noiseless signal) attains.
    nc = noise_ceiling(ncsnr, repeats)
    known = 100 * true_ncsnr**2 / (true_ncsnr**2 + np.mean(1 / repeats))
    np.testing.assert_allclose(nc, known, atol=2.5)
    averaged = np.zeros_like(signal)
    np.add.at(averaged, ids, trials)
    averaged /= repeats[:, None]
    perfect_r2 = 100 * pearson_r(signal, averaged) ** 2
    np.testing.assert_allclose(perfect_r2, known, atol=3.0)
    score = algonauts_score(pearson_r(signal, averaged), nc)
    assert 90 < score.mean() <= 100


def test_noise_ceiling_of_pure_noise_is_zero():
    rng = np.random.default_rng(3)
    trials, ids, _ = _simulate(np.zeros(5), np.full(20000, 3), rng)
    # NSD's estimator is biased upwards at zero SNR by sampling error only (var_signal = max(., 0)).
    assert (noise_ceiling(ncsnr_from_repeats(trials, ids), np.full(20000, 3)) < 5.0).all()


def test_ncsnr_needs_repetitions():
    with pytest.raises(ValueError, match='no stimulus is repeated'):
        ncsnr_from_repeats(np.zeros((4, 2)), np.arange(4))


def test_ncsnr_uses_sample_variances():
    """NSD's definition, by hand: per-image variances with n - 1, pooled over sum(n - 1); total variance over T - 1."""
    betas = np.array([[1.0], [3.0], [2.0], [6.0], [0.0], [9.0]])  # images 0 and 1 twice, images 2 and 3 once
    ids = np.array([0, 0, 1, 1, 2, 3])
    var_noise = ((1 - 2) ** 2 + (3 - 2) ** 2 + (2 - 4) ** 2 + (6 - 4) ** 2) / (1 + 1)
    var_total = betas[:, 0].var(ddof=1)
    expected = np.sqrt((var_total - var_noise) / var_noise)
    np.testing.assert_allclose(ncsnr_from_repeats(betas, ids), [expected], rtol=1e-12)
    np.testing.assert_allclose(ncsnr_from_variances([var_total], [var_noise]), [expected], rtol=1e-12)
    # a population-variance (ddof=0) estimator would give another number
    assert var_total > betas[:, 0].var() > var_noise
    assert not np.isclose(expected, np.sqrt((betas[:, 0].var() - var_noise) / var_noise))
    np.testing.assert_array_equal(ncsnr_from_variances([0.5, 0.0, 2.0], [1.0, 0.0, 0.0]), [0.0, 0.0, np.inf])


def test_algonauts_score_is_the_devkits():
    """The devkit's steps: r < 0 -> 0, r**2, NC as a fraction with 0 -> 1e-14, r**2 / NC * 100, > 100 -> 100."""
    r = np.array([-0.5, 0.3, 0.9, 0.2, 0.0, -0.1])
    nc = np.array([50.0, 36.0, 50.0, 0.0, 0.0, 0.0])
    score = algonauts_score(r, nc)
    assert score[0] == 0  # negative r counts as 0
    assert score[1] == pytest.approx(100 * 0.09 / 0.36)  # r^2 over the ceiling (a fraction), in %
    assert score[2] == 100  # capped
    assert score[3] == 100  # zero ceiling: kept, 0.04 / 1e-14 is capped
    assert score[4] == 0 and score[5] == 0  # zero ceiling, no positive r
    # the devkit's code, step by step
    corr = r.copy()
    corr[corr < 0] = 0
    r2 = corr**2
    ceiling = nc / 100
    ceiling[ceiling == 0] = 1e-14
    devkit = np.divide(r2, ceiling) * 100
    devkit[devkit > 100] = 100
    np.testing.assert_array_equal(score, devkit)
    with pytest.raises(ValueError, match='one shape'):
        algonauts_score(r, nc[:2])


def test_noise_ceiling_single_count_and_the_synthetic_world_use_one_formula(nsd_world):
    ncsnr = np.array([0.0, 0.5, 1.0, np.inf])
    np.testing.assert_allclose(noise_ceiling(ncsnr, 3), noise_ceiling(ncsnr, np.full(7, 3)))
    expected = 100 * ncsnr[:3] ** 2 / (ncsnr[:3] ** 2 + (1 + 1 / 2 + 1 / 3) / 3)
    np.testing.assert_allclose(noise_ceiling(ncsnr, [1, 2, 3]), list(expected) + [100.0])
    truth = np.load(nsd_world.ground_truth(3))
    assert any(key.endswith('/ncsnr') for key in truth.files)
    for key in truth.files:
        if key.endswith('/ncsnr'):
            group = key[: -len('/ncsnr')]
            np.testing.assert_allclose(truth[f'{group}/noise_ceiling'], noise_ceiling(truth[key], 3), rtol=1e-6)

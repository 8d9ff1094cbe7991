# Copyright (c) mmbrain contributors. All rights reserved.
"""Pearson r, NSD's noise ceiling and the Algonauts score against direct computations and simulated data."""
import numpy as np
import pytest

from mmbrain.evaluation.functional import algonauts_score, ncsnr_from_repeats, noise_ceiling, pearson_r


def test_pearson_r_matches_numpy_corrcoef():
    rng = np.random.default_rng(0)
    target = rng.standard_normal((40, 7))
    pred = 0.5 * target + rng.standard_normal((40, 7)) * np.linspace(0.1, 3, 7)
    expected = [np.corrcoef(pred[:, v], target[:, v])[0, 1] for v in range(7)]
    np.testing.assert_allclose(pearson_r(pred, target), expected, rtol=1e-12, atol=1e-12)


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
    perfect_r2 = 100 * pearson_r(signal, averaged)**2
    np.testing.assert_allclose(perfect_r2, known, atol=3.0)
    score, valid = algonauts_score(pearson_r(signal, averaged), nc)
    assert valid.all() and 90 < score.mean() <= 100


def test_noise_ceiling_of_pure_noise_is_zero():
    rng = np.random.default_rng(3)
    trials, ids, _ = _simulate(np.zeros(5), np.full(20000, 3), rng)
    # NSD's estimator is biased upwards at zero SNR by sampling error only (var_signal = max(., 0)).
    assert (noise_ceiling(ncsnr_from_repeats(trials, ids), np.full(20000, 3)) < 5.0).all()


def test_ncsnr_needs_repetitions():
    with pytest.raises(ValueError, match='no stimulus is repeated'):
        ncsnr_from_repeats(np.zeros((4, 2)), np.arange(4))


def test_algonauts_score_rules():
    r = np.array([-0.5, 0.3, 0.9, 0.2])
    nc = np.array([50.0, 36.0, 50.0, 0.0])
    score, valid = algonauts_score(r, nc)
    assert score[0] == 0  # negative r counts as 0
    assert score[1] == pytest.approx(100 * 0.09 / 0.36)  # r^2 over the ceiling, in %
    assert score[2] == 100  # capped
    assert not valid[3] and np.isnan(score[3])  # no explainable variance: no score

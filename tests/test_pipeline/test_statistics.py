# Copyright (c) mmbrain contributors. All rights reserved.
"""Mean ± sd over seeds and paired differences with t-intervals, checked against numpy and scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from mmbrain.pipeline.statistics import paired_difference, summarize


def test_summary_is_mean_and_sample_sd():
    values = [0.31, 0.27, 0.35, 0.30]
    s = summarize(values)
    assert s.n == 4
    assert s.mean == pytest.approx(np.mean(values))
    assert s.sd == pytest.approx(np.std(values, ddof=1))
    assert summarize([0.2, None, float('nan')]).n == 1
    assert math.isnan(summarize([0.2]).sd)
    assert summarize([]).n == 0 and math.isnan(summarize([]).mean)


def test_paired_difference_matches_scipy():
    rng = np.random.default_rng(0)
    b = rng.normal(0.30, 0.02, size=5)
    a = b + rng.normal(0.03, 0.01, size=5)
    d = paired_difference(a, b)
    diff = a - b
    low, high = stats.t.interval(0.95, df=4, loc=diff.mean(), scale=stats.sem(diff))
    assert d.n == 5 and d.mean == pytest.approx(diff.mean()) and d.sd == pytest.approx(diff.std(ddof=1))
    assert (d.low, d.high) == (pytest.approx(low), pytest.approx(high))
    # the interval is the paired t-test's: it excludes 0 exactly when the two-sided p < 0.05
    assert d.excludes_zero == (stats.ttest_rel(a, b).pvalue < 0.05)
    wide = paired_difference(a, b, confidence=0.99)
    assert wide.low < d.low and wide.high > d.high


def test_difference_within_the_spread_is_said_so():
    a, b = [0.30, 0.25, 0.33], [0.29, 0.27, 0.31]
    d = paired_difference(a, b)
    assert d.low < 0 < d.high and d.excludes_zero is False
    assert paired_difference([1.0, 1.1, 1.2], [0.0, 0.1, 0.15]).excludes_zero is True


def test_one_seed_has_no_interval():
    d = paired_difference([0.4], [0.3])
    assert d.n == 1 and d.mean == pytest.approx(0.1)
    assert not d.defined and d.excludes_zero is None and math.isnan(d.low)


def test_seeds_missing_on_either_side_are_left_out():
    d = paired_difference([0.4, None, 0.5, 0.6], [0.3, 0.2, float('nan'), 0.4])
    assert d.n == 2 and d.mean == pytest.approx(0.15)
    with pytest.raises(ValueError, match='3 values against 2'):
        paired_difference([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match='confidence'):
        paired_difference([1, 2], [1, 2], confidence=95)


def test_the_same_difference_on_every_seed_is_its_own_interval():
    """Differences equal up to rounding (0.25 - 0.06 vs 0.24 - 0.05): a point interval, without scipy's
    cancellation warning or a NaN."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('error')
        d = paired_difference([0.25, 0.24, 0.26], [0.06, 0.05, 0.07])
    assert d.defined and d.sd == 0 and d.low == d.high == pytest.approx(0.19)
    assert d.excludes_zero is True

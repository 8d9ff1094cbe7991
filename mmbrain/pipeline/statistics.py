# Copyright (c) mmbrain contributors. All rights reserved.
"""Spread over seeds: mean ± sd per cell, and paired differences between initialisations with a t-interval."""

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

__all__ = ['Summary', 'PairedDifference', 'summarize', 'paired_difference']


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof=1; NaN for one value) of one cell over seeds."""

    mean: float
    sd: float
    n: int


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` paired by seed: mean, sample sd, and the two-sided t-interval of the mean (NaN for one seed).

    Attributes:
        mean: Mean difference.
        sd: Sample standard deviation of the differences (ddof=1).
        n: Number of seeds with both values.
        low, high: Bounds of the ``confidence`` t-interval, ``mean ± t_{n-1} * sd / sqrt(n)`` (scipy's
            ``ttest_rel(a, b).confidence_interval()``).
        confidence: e.g. 0.95.
    """

    mean: float
    sd: float
    n: int
    low: float
    high: float
    confidence: float

    @property
    def defined(self) -> bool:
        """Whether there is an interval at all (two seeds or more)."""
        return self.n >= 2 and bool(np.isfinite(self.low))

    @property
    def excludes_zero(self) -> Optional[bool]:
        """Whether the difference is larger than the seed spread (the interval excludes 0); None without interval."""
        if not self.defined:
            return None
        return bool(self.low > 0 or self.high < 0)


def _finite(values: Sequence[Optional[float]]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def summarize(values: Sequence[Optional[float]]) -> Summary:
    """Mean ± sd of the finite values (None and NaN are left out)."""
    x = _finite(values)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Summary(float('nan'), float('nan'), 0)
    return Summary(float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else float('nan'), int(x.size))


def paired_difference(
    a: Sequence[Optional[float]], b: Sequence[Optional[float]], confidence: float = 0.95
) -> PairedDifference:
    """``a - b`` over the seeds where both are finite, with the paired t-test's interval for the mean difference
    (``scipy.stats.ttest_rel``).

    Args:
        a, b: One value per seed, in the same seed order.
        confidence: Coverage of the two-sided interval.
    """
    from scipy import stats

    if len(a) != len(b):
        raise ValueError(f'paired_difference: {len(a)} values against {len(b)}')
    if not 0 < confidence < 1:
        raise ValueError(f'paired_difference: confidence must be in (0, 1), got {confidence}')
    x, y = _finite(a), _finite(b)
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    d = x - y
    n = int(d.size)
    if n == 0:
        return PairedDifference(float('nan'), float('nan'), 0, float('nan'), float('nan'), confidence)
    mean = float(d.mean())
    if n == 1:
        return PairedDifference(mean, float('nan'), 1, float('nan'), float('nan'), confidence)
    # The same difference on every seed (up to rounding): scipy's t is 0/0 (a NaN interval, with a cancellation
    # warning); ours is the point itself, which is what the seeds show.
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        return PairedDifference(mean, 0.0, n, mean, mean, confidence)
    sd = float(d.std(ddof=1))
    interval = stats.ttest_rel(x, y).confidence_interval(confidence_level=confidence)
    return PairedDifference(mean, sd, n, float(interval.low), float(interval.high), confidence)

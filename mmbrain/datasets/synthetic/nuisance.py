# Copyright (c) mmbrain contributors. All rights reserved.
"""Nuisance signals of the synthetic NSD world: variance in the betas that no image and no downstream task explains.

Two terms, both independent of the image shown (the trial order is random), so they lower the noise ceiling that
repetitions reveal without adding any image information, and a model that aligns with them learns nothing useful:

* a **slow drift** within each session, per voxel: a random mix of the first :data:`DRIFT_COMPONENTS` cosines of
  the session's trial index (what remains of scanner drift after NSD's per-session z-scoring, which removes only
  the session mean);
* an **arousal** term, one value per trial (AR(1) over trials, correlation :data:`AROUSAL_AR`) shared by every brain
  voxel with a positive loading, like the global signal fluctuations of real fMRI.

Both are given in units of each voxel's noise standard deviation. The image-driven nuisance, the global colour, is
part of the encoding model (:mod:`.encoding`, ``colour_share``) because it is a function of the image.
"""

from dataclasses import dataclass

import numpy as np

#: Cosines (periods of 2 T, T, 2 T / 3 trials) mixed into each voxel's drift.
DRIFT_COMPONENTS = 3
#: Trial-to-trial correlation of the arousal term.
AROUSAL_AR = 0.8


@dataclass(frozen=True)
class Nuisance:
    """Strength of the image-independent nuisance signals.

    Attributes:
        drift: standard deviation of the within-session drift, in noise standard deviations (0: none).
        arousal: standard deviation of the trial-wise arousal term at a voxel of loading 1, in noise standard
            deviations (loadings are uniform in [0.5, 1.5]; 0: none).
    """

    drift: float = 0.0
    arousal: float = 0.0

    def __post_init__(self):
        if self.drift < 0 or self.arousal < 0:
            raise ValueError(f'drift and arousal must be >= 0, got drift={self.drift!r}, arousal={self.arousal!r}')

    def __bool__(self) -> bool:
        return bool(self.drift or self.arousal)

    def session(self, n_trials: int, noise_sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The nuisance (n_trials, V) float32 of one session, for voxels of noise standard deviation ``noise_sd``."""
        out = np.zeros((n_trials, len(noise_sd)), np.float32)
        if self.drift:
            t = (np.arange(n_trials) + 0.5) / n_trials
            basis = np.cos(np.pi * np.arange(1, DRIFT_COMPONENTS + 1)[None, :] * t[:, None])  # (T, K)
            mix = rng.normal(0, 1, (DRIFT_COMPONENTS, len(noise_sd))) / np.arange(1, DRIFT_COMPONENTS + 1)[:, None]
            drift = basis @ mix
            drift /= np.maximum(drift.std(0), 1e-6)
            out += (self.drift * noise_sd * drift).astype(np.float32)
        if self.arousal:
            shocks = rng.standard_normal(n_trials)
            level = np.empty(n_trials)
            level[0] = shocks[0]
            for i in range(1, n_trials):  # stationary AR(1) of unit variance
                level[i] = AROUSAL_AR * level[i - 1] + np.sqrt(1 - AROUSAL_AR**2) * shocks[i]
            loading = rng.uniform(0.5, 1.5, len(noise_sd))
            out += (self.arousal * np.outer(level, loading * noise_sd)).astype(np.float32)
        return out


#: No nuisance (the default).
NO_NUISANCE = Nuisance()

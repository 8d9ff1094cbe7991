# Copyright (c) mmbrain contributors. All rights reserved.
"""The ground-truth encoding model of the synthetic NSD world: what each voxel responds to.

Each stimulus is summarised by image-computable features (:class:`StimulusFeatures`):

* a ``grid x grid`` map of local contrast energy (|luminance - its Gaussian blur|) and one of luminance;
* five category drives: the square root of the image area covered by faces, bodies, words, plain shapes
  ("object"), and the visible fraction of a place-like background ("place").

A voxel's noiseless response is a weighted sum of seven standardised components (:data:`COMPONENTS`): contrast
and luminance seen through its Gaussian population receptive field, and the five category drives; optionally
(``colour_share > 0``) a share of its variance is given to the image's global colour (mean red, green, blue), a
nuisance that drives the voxel but that no downstream task (detection, segmentation) asks about. Early visual
(``prf-visualrois``) voxels see contrast and luminance through small retinotopic fields, category ROIs follow their
category (``floc-faces`` -> faces, ...), stream voxels mix both, other ``nsdgeneral`` voxels weakly so, and the
rest of the brain responds to nothing. The response is standardised over the subject's images (unit variance), so
with noise of standard deviation ``sigma`` and amplitude ``ncsnr * sigma`` a voxel's noise-ceiling SNR is exactly
``ncsnr`` and its noise ceiling for an average of ``n`` trials is ``100 * ncsnr^2 / (ncsnr^2 + 1/n)`` (NSD's and
Algonauts' definition, :func:`mmbrain.evaluation.functional.noise_ceiling`). :data:`CEILINGS` holds two settings of
the voxels' SNR: ``synthetic`` (the default, ceilings well above NSD's) and ``nsd`` (lower, spread more widely).
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .anatomy import Anatomy
from .scenes import CATEGORIES, Scene

#: Category drives, in the order of :attr:`StimulusFeatures.category`.
DRIVES = ('face', 'body', 'word', 'place', 'object')
#: Components of a voxel's response, in the order of :attr:`EncodingModel.weights`.
COMPONENTS = ('contrast', 'luminance') + DRIVES
#: Which drive each category-selective ROI group prefers.
FLOC_DRIVE = {'floc-faces': 'face', 'floc-bodies': 'body', 'floc-words': 'word', 'floc-places': 'place'}
#: Noise-ceiling SNR of each voxel class at ``snr=1`` (median) and the log-normal spread of voxels around it:
#: ``synthetic`` gives 3-trial ceilings of ~75% (V1-V3) down to ~27% (other nsdgeneral voxels); ``nsd`` about half
#: the SNR with twice the spread (~43% down to ~11%, many voxels near 0), closer to NSD's single-trial betas.
CEILINGS = {
    'synthetic': ({'prf': 1.0, 'floc': 0.8, 'streams': 0.6, 'general': 0.35}, 0.25),
    'nsd': ({'prf': 0.5, 'floc': 0.35, 'streams': 0.3, 'general': 0.2}, 0.5),
}
# Emphasis of the stream families on (face, body, word, place, object).
_FAMILY_DRIVES = {
    'ventral': (1.0, 0.6, 0.8, 0.6, 0.8),
    'lateral': (0.6, 1.0, 0.3, 0.3, 1.0),
    'parietal': (0.1, 0.3, 0.1, 1.0, 0.8),
}
_STREAM_FAMILY = {2: 'ventral', 3: 'lateral', 4: 'parietal', 5: 'ventral', 6: 'lateral', 7: 'parietal'}


@dataclass
class StimulusFeatures:
    """Image-computable features of a set of stimuli.

    Attributes:
        contrast: (N, grid, grid) float32 local contrast energy.
        luminance: (N, grid, grid) float32 mean luminance in [0, 1].
        category: (N, 5) float32 drives in the order of :data:`DRIVES`.
        colour: (N, 3) float32 global colour, the mean red, green and blue in [0, 1].
    """

    contrast: np.ndarray
    luminance: np.ndarray
    category: np.ndarray
    colour: np.ndarray

    def take(self, rows: np.ndarray) -> 'StimulusFeatures':
        return StimulusFeatures(self.contrast[rows], self.luminance[rows], self.category[rows], self.colour[rows])

    @classmethod
    def empty(cls, n: int, grid: int = 16) -> 'StimulusFeatures':
        return cls(
            np.zeros((n, grid, grid), np.float32),
            np.zeros((n, grid, grid), np.float32),
            np.zeros((n, len(DRIVES)), np.float32),
            np.zeros((n, 3), np.float32),
        )

    def set_scene(self, idx: int, scene: Scene) -> None:
        """Compute the features of one rendered scene into row ``idx``."""
        grid = self.contrast.shape[-1]
        gray = scene.image.astype(np.float32).mean(-1) / 255.0
        energy = np.abs(gray - cv2.GaussianBlur(gray, (0, 0), max(0.5, gray.shape[0] / 40)))
        self.contrast[idx] = cv2.resize(energy, (grid, grid), interpolation=cv2.INTER_AREA)
        self.luminance[idx] = cv2.resize(gray, (grid, grid), interpolation=cv2.INTER_AREA)
        area = np.zeros(len(DRIVES), np.float32)
        for cat, mask in scene.instances:
            name = CATEGORIES[cat]
            area[DRIVES.index(name if name in DRIVES else 'object')] += mask.mean()
        area[DRIVES.index('place')] = scene.place_fraction
        self.category[idx] = np.sqrt(area)
        self.colour[idx] = scene.image.reshape(-1, 3).mean(0) / 255.0


def _standardise(x: np.ndarray) -> np.ndarray:
    """Z-score the columns of ``x`` (constant columns become 0)."""
    sd = x.std(0)
    return np.where(sd > 0, (x - x.mean(0)) / np.where(sd > 0, sd, 1), 0).astype(np.float32)


@dataclass
class EncodingModel:
    """Ground-truth tuning of one subject's responsive voxels.

    Attributes:
        voxels: (V,) flat indices (C order over the (X, Y, Z) grid) of the voxels with a signal.
        rf: (V, 3) population receptive field (x, y, sigma), image fractions, x right, y down.
        weights: (V, 7) weights of :data:`COMPONENTS`.
        ncsnr: (V,) noise-ceiling SNR (signal sd / noise sd).
        voxel_class: (V,) index into ``('prf', 'floc', 'streams', 'general')``.
        colour_weights: (V, 3) weights of the global colour (red, green, blue).
        colour_share: share of every voxel's response variance that is its global-colour term (0: none).
    """

    voxels: np.ndarray
    rf: np.ndarray
    weights: np.ndarray
    ncsnr: np.ndarray
    voxel_class: np.ndarray
    colour_weights: np.ndarray
    colour_share: float = 0.0

    def signal(self, features: StimulusFeatures) -> np.ndarray:
        """Noiseless responses (N, V), each voxel standardised to zero mean and unit variance over the stimuli."""
        grid = features.contrast.shape[-1]
        centres = (np.arange(grid) + 0.5) / grid
        dx = (centres[None, :] - self.rf[:, 0:1]) ** 2  # (V, grid) over x
        dy = (centres[None, :] - self.rf[:, 1:2]) ** 2  # (V, grid) over y
        s2 = 2 * self.rf[:, 2:3] ** 2
        fields = np.exp(-dy / s2)[:, :, None] * np.exp(-dx / s2)[:, None, :]  # (V, y, x)
        fields = (fields / fields.sum((1, 2), keepdims=True)).reshape(len(self.voxels), -1)
        n = len(features.category)
        total = self.weights[:, 0] * _standardise(features.contrast.reshape(n, -1) @ fields.T)
        total += self.weights[:, 1] * _standardise(features.luminance.reshape(n, -1) @ fields.T)
        total += _standardise(features.category) @ self.weights[:, 2:].T
        if not self.colour_share:
            return _standardise(total)
        colour = _standardise(_standardise(features.colour) @ self.colour_weights.T)
        return _standardise(np.sqrt(1 - self.colour_share) * _standardise(total) + np.sqrt(self.colour_share) * colour)


def make_encoding_model(
    anatomy: Anatomy, rng: np.random.Generator, snr: float = 1.0, ceilings: str = 'synthetic', colour_share: float = 0.0
) -> EncodingModel:
    """Draw the tuning of every voxel in the subject's ROIs (see the module docstring).

    Args:
        anatomy: the subject's synthetic anatomy.
        rng: the subject's generator.
        snr: multiplies every voxel's noise-ceiling SNR (0: the voxels carry no image information at all).
        ceilings: a key of :data:`CEILINGS`.
        colour_share: in [0, 1), the share of each voxel's image-driven variance given to the global colour.
    """
    if ceilings not in CEILINGS:
        raise ValueError(f'ceilings must be one of {sorted(CEILINGS)}, got {ceilings!r}')
    if snr < 0:
        raise ValueError(f'snr must be >= 0, got {snr!r}')
    if not 0 <= colour_share < 1:
        raise ValueError(f'colour_share must lie in [0, 1), got {colour_share!r}')
    rois = {name: vol.reshape(-1) for name, vol in anatomy.rois.items()}
    prf = rois['prf-visualrois'] > 0
    floc = np.zeros_like(prf)
    for group in FLOC_DRIVE:
        floc |= rois[group] > 0
    streams = rois['streams'] > 0
    general = rois['nsdgeneral'] > 0
    classes = np.full(prf.shape, -1)
    classes[general] = 3
    classes[streams] = 2
    classes[floc] = 1
    classes[prf] = 0
    voxels = np.flatnonzero(classes >= 0)
    cls = classes[voxels]
    n = len(voxels)
    left = anatomy.left.reshape(-1)[voxels]
    side = np.where(left, 1.0, -1.0)  # the left hemisphere sees the right visual field

    # Receptive fields: retinotopic in prf-visualrois, broad and contralateral elsewhere.
    rf = np.empty((n, 3), np.float32)
    rf[:, 0] = 0.5 + side * rng.uniform(0.0, 0.25, n)
    rf[:, 1] = 0.5 + rng.normal(0, 0.12, n)
    rf[:, 2] = np.where(cls == 2, rng.uniform(0.12, 0.35, n), rng.uniform(0.2, 0.4, n))
    is_prf = cls == 0
    rf[is_prf] = anatomy.rf.reshape(-1, 3)[voxels[is_prf]]

    weights = np.zeros((n, len(COMPONENTS)), np.float32)
    drives = slice(2, None)
    # prf: contrast and some luminance.
    weights[is_prf, 0] = 1.0
    weights[is_prf, 1] = rng.uniform(-0.3, 0.5, is_prf.sum())
    # floc: their own category (both where groups overlap), a little of everything else.
    is_floc = cls == 1
    weights[is_floc, 0] = 0.3
    weights[is_floc, drives] = rng.normal(0, 0.1, (is_floc.sum(), len(DRIVES)))
    for group, drive in FLOC_DRIVE.items():
        member = is_floc & (rois[group][voxels] > 0)
        weights[member, 2 + DRIVES.index(drive)] += rng.uniform(0.8, 1.2, member.sum())
    # streams: contrast (more in the "mid" parts) mixed with the family's categories.
    is_stream = cls == 2
    labels = rois['streams'][voxels]
    for label, family in _STREAM_FAMILY.items():
        member = is_stream & (labels == label)
        mid = label <= 4
        weights[member, 0] = 0.8 if mid else 0.3
        weights[member, 1] = rng.uniform(-0.2, 0.3, member.sum())
        weights[member, drives] = rng.uniform(0, 1, (member.sum(), len(DRIVES))) ** 2 * np.array(_FAMILY_DRIVES[family])
    # the rest of nsdgeneral: weak, mixed.
    is_general = cls == 3
    weights[is_general, 0] = 0.5
    weights[is_general, drives] = rng.uniform(0, 0.4, (is_general.sum(), len(DRIVES)))

    medians, spread = CEILINGS[ceilings]
    base = np.array([medians[k] for k in ('prf', 'floc', 'streams', 'general')], np.float32)
    ncsnr = (base[cls] * snr * rng.lognormal(0, spread, n)).astype(np.float32)
    colour_weights = rng.normal(0, 1, (n, 3)).astype(np.float32)  # drawn last: the other draws do not depend on it
    return EncodingModel(
        voxels=voxels,
        rf=rf,
        weights=weights,
        ncsnr=ncsnr,
        voxel_class=cls.astype(np.int8),
        colour_weights=colour_weights,
        colour_share=float(colour_share),
    )

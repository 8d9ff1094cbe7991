# Copyright (c) mmbrain contributors. All rights reserved.
"""Synthetic brains: a volume, a cortex, and NSD's seven ROI volumes with plausible geometry.

The brain is an ellipsoid in a subject-specific grid (NSD's func1pt8mm sizes scaled by ``volume_scale``);
cortex is its outer shell (the core is "white matter": non-zero betas, -1 in ROI files). Regions sit where they
sit in a human brain, in normalised coordinates u (left-right), v (posterior-anterior), w (inferior-superior):

* ``prf-visualrois`` at the occipital pole, areas as wedges around the horizontal meridian (V1 innermost,
  ventral/dorsal halves), with a retinotopic map: the wedge angle gives the visual polar angle, the distance from
  the pole the eccentricity, the hemisphere the contralateral visual field;
* ``streams`` covering most of ``nsdgeneral`` (the posterior cortex), ``early`` = the prf region, then
  ventral / lateral / parietal families split into mid (near) and far parts;
* ``floc-*`` as patches grown around seeds at the textbook locations (OFA, FFA, EBA, PPA, VWFA, ...), so that
  groups overlap each other and the streams as in NSD.

ROI sizes follow per-group targets at ``volume_scale=0.25`` (scaled by the cube of the scale) times a
per-subject factor, so subjects differ in voxel counts as real subjects do.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ..nsd_files import ROI_LABEL_NAMES

#: NSD's func1pt8mm grids (X, Y, Z) of subj01..08; the synthetic grids are these times ``volume_scale``.
NSD_GRIDS: Tuple[Tuple[int, int, int], ...] = (
    (81, 104, 83),
    (82, 106, 84),
    (81, 106, 82),
    (85, 99, 80),
    (79, 97, 78),
    (85, 113, 83),
    (78, 95, 81),
    (80, 103, 78),
)
#: Voxel targets of each region at ``volume_scale=0.25`` (before the per-subject factor).
REGION_TARGETS: Dict[str, int] = {
    'nsdgeneral': 2300,
    'streams': 1500,
    'prf-visualrois': 700,
    'floc-bodies': 450,
    'floc-faces': 380,
    'floc-places': 420,
    'floc-words': 300,
}
#: Seeds of the category-selective patches: label -> (|u|, v, w, share of the group, share in the left hemisphere).
FLOC_SEEDS: Dict[str, Dict[str, Tuple[float, float, float, float, float]]] = {
    'floc-faces': {
        'OFA': (0.9, -0.6, -0.1, 0.25, 0.5),
        'FFA-1': (0.5, -0.45, -0.85, 0.25, 0.45),
        'FFA-2': (0.5, -0.25, -0.85, 0.2, 0.45),
        'mTL-faces': (0.6, 0.0, -0.8, 0.15, 0.5),
        'aTL-faces': (0.6, 0.3, -0.7, 0.15, 0.5),
    },
    'floc-bodies': {
        'EBA': (0.95, -0.5, 0.05, 0.45, 0.5),
        'FBA-1': (0.75, -0.4, -0.65, 0.2, 0.5),
        'FBA-2': (0.75, -0.2, -0.65, 0.2, 0.5),
        'mTL-bodies': (0.6, 0.05, -0.75, 0.15, 0.5),
    },
    'floc-places': {
        'OPA': (0.7, -0.6, 0.6, 0.35, 0.5),
        'PPA': (0.35, -0.2, -0.9, 0.4, 0.5),
        'RSC': (0.15, -0.3, 0.4, 0.25, 0.5),
    },
    'floc-words': {
        'OWFA': (0.8, -0.55, -0.5, 0.25, 0.6),
        'VWFA-1': (0.55, -0.35, -0.9, 0.25, 0.75),
        'VWFA-2': (0.55, -0.15, -0.9, 0.2, 0.75),
        'mfs-words': (0.45, -0.3, -0.8, 0.15, 0.6),
        'mTL-words': (0.55, 0.05, -0.8, 0.15, 0.6),
    },
}
_PRF_AREA_SIZE = {'V1': 1.0, 'V2': 1.3, 'V3': 1.7, 'hV4': 2.2}


@dataclass
class Anatomy:
    """One subject's synthetic brain on its (X, Y, Z) grid.

    Attributes:
        affine: voxel (i, j, k) -> mm (RAS; i grows to the right, so i below the centre is the left hemisphere).
        brain: bool (X, Y, Z), voxels with non-zero betas.
        cortex: bool (X, Y, Z), voxels with ROI value >= 0.
        left: bool (X, Y, Z), the left hemisphere.
        rois: name -> int16 (X, Y, Z) volume with -1 / 0 / labels, for the six groups and ``nsdgeneral``.
        rf: float32 (X, Y, Z, 3) population receptive field (x, y, sigma) in image fractions (x right, y down)
            of the prf-visualrois voxels, NaN elsewhere.
        norm: float32 (X, Y, Z, 3) normalised (u, v, w) coordinates (the ellipsoid surface at radius 1).
    """

    affine: np.ndarray
    brain: np.ndarray
    cortex: np.ndarray
    left: np.ndarray
    rois: Dict[str, np.ndarray]
    rf: np.ndarray
    norm: np.ndarray

    @property
    def shape(self) -> Tuple[int, int, int]:
        return tuple(self.brain.shape)


def subject_grid(subject: int, volume_scale: float) -> Tuple[int, int, int]:
    """Grid (X, Y, Z) of a 1-based subject: NSD's func1pt8mm grid times ``volume_scale`` (at least 8)."""
    base = NSD_GRIDS[(subject - 1) % len(NSD_GRIDS)]
    extra = (subject - 1) // len(NSD_GRIDS)  # subjects beyond 8 reuse the grids, slightly larger
    return tuple(max(8, int(round(n * volume_scale)) + extra) for n in base)


def _nearest(
    coords: np.ndarray, candidates: np.ndarray, seed: np.ndarray, n: int, penalty: Optional[np.ndarray] = None
) -> np.ndarray:
    """Indices (into ``coords``) of the ``n`` candidates nearest to ``seed`` (squared distance plus ``penalty``)."""
    cand = np.flatnonzero(candidates)
    if len(cand) == 0 or n <= 0:
        return cand[:0]
    d = np.sum((coords[cand] - seed) ** 2, axis=1)
    if penalty is not None:
        d = d + penalty[cand]
    return cand[np.argsort(d, kind='stable')[:n]]


def make_anatomy(subject: int, rng: np.random.Generator, volume_scale: float = 0.25) -> Anatomy:
    """Build one subject's brain, ROI volumes and retinotopic map.

    Args:
        subject: 1-based subject number (selects the grid).
        rng: the subject's anatomy generator.
        volume_scale: grid scale relative to NSD's 1.8 mm grids; voxels are ``1.8 / volume_scale`` mm.
    """
    dims = np.array(subject_grid(subject, volume_scale))
    voxel_mm = 1.8 / volume_scale
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -voxel_mm * (dims - 1) / 2 + np.array([0.0, -15.0, 10.0])
    centre = (dims - 1) / 2
    semi = 0.47 * dims * rng.uniform(0.96, 1.02, 3)
    ijk = np.stack(np.meshgrid(*(np.arange(n) for n in dims), indexing='ij'), -1).reshape(-1, 3)
    norm = (ijk - centre) / semi
    radius = np.linalg.norm(norm, axis=1)
    brain = radius <= 1.0
    cortex = brain & (radius > 0.55)
    left = ijk[:, 0] < centre[0]
    u, v, w = norm.T
    n_vox = len(ijk)
    count_scale = (volume_scale / 0.25) ** 3
    target = {name: max(1, int(round(n * count_scale * rng.uniform(0.8, 1.25)))) for name, n in REGION_TARGETS.items()}
    jitter = rng.normal(0, 0.04, n_vox)
    rois = {name: np.where(cortex, 0, -1).astype(np.int16) for name in ROI_LABEL_NAMES}

    # nsdgeneral: the posterior cortex; streams: its posterior part.
    ctx = np.flatnonzero(cortex)
    order = ctx[np.argsort(v[ctx] + jitter[ctx], kind='stable')]
    general = order[: min(target['nsdgeneral'], int(0.7 * len(ctx)))]
    rois['nsdgeneral'][general] = 1
    streams = general[: min(target['streams'], len(general))]

    # prf-visualrois: the streams voxels nearest the occipital pole of each hemisphere.
    prf_mask = np.zeros(n_vox, bool)
    in_streams = np.zeros(n_vox, bool)
    in_streams[streams] = True
    pole_u = 0.15
    for hemi_sign, hemi in ((-1, left), (1, ~left)):
        pole = np.array([hemi_sign * pole_u, -1.0, 0.0])
        prf_mask[_nearest(norm, in_streams & hemi, pole, min(target['prf-visualrois'], len(streams)) // 2)] = True
    prf = np.flatnonzero(prf_mask)
    rf = np.full((n_vox, 3), np.nan, np.float32)
    if len(prf):
        alpha = np.arctan2(w[prf], np.abs(u[prf]) - pole_u * 0.5)  # wedge angle around the calcarine axis
        ranks = np.argsort(np.argsort(np.abs(alpha), kind='stable'), kind='stable') / max(1, len(prf) - 1)
        names = ROI_LABEL_NAMES['prf-visualrois']
        area = np.where(ranks < 0.3, 'V1', np.where(ranks < 0.6, 'V2', np.where(ranks < 0.85, 'V3', 'hV4')))
        ventral = alpha < 0
        area = np.where((area == 'hV4') & ~ventral, 'V3', area)
        label = np.array(
            [names.index(a if a == 'hV4' else a + ('v' if vent else 'd')) for a, vent in zip(area, ventral)]
        )
        rois['prf-visualrois'][prf] = label
        # Retinotopy: ventral areas see the upper field, the left hemisphere sees the right field.
        pole = np.stack([np.where(left[prf], -pole_u, pole_u), -np.ones(len(prf)), np.zeros(len(prf))], 1)
        dist = np.linalg.norm(norm[prf] - pole, axis=1)
        ecc = 0.05 + 0.9 * np.argsort(np.argsort(dist, kind='stable'), kind='stable') / max(1, len(prf) - 1)
        phi = -np.clip(alpha / (np.abs(alpha).max() + 1e-6), -1, 1) * (np.pi / 2)
        side = np.where(left[prf], 1.0, -1.0)
        rf[prf, 0] = 0.5 + 0.5 * ecc * np.cos(phi) * side
        rf[prf, 1] = 0.5 - 0.5 * ecc * np.sin(phi)
        rf[prf, 2] = (0.03 + 0.12 * ecc) * np.array([_PRF_AREA_SIZE[a] for a in area])

    # streams labels: early = prf, then ventral / lateral / parietal families, near part = "mid".
    names = ROI_LABEL_NAMES['streams']
    rois['streams'][prf] = names.index('early')
    rest = streams[~prf_mask[streams]]
    if len(rest):
        beta = np.arctan2(w[rest], np.abs(u[rest]))
        family = np.where(beta < -np.pi / 6, 'ventral', np.where(beta > np.pi / 4, 'parietal', 'lateral'))
        for fam in ('ventral', 'lateral', 'parietal'):
            members = rest[family == fam]
            if len(members):
                near = v[members] <= np.median(v[members])
                rois['streams'][members[near]] = names.index('mid' + fam)
                rois['streams'][members[~near]] = names.index(fam)

    # floc-*: patches grown around each label's seed, in each hemisphere, in voxel units. Voxels of other
    # category groups cost (5 voxels)^2 of extra distance: groups stay mostly apart but overlap where crowded.
    vox = ijk.astype(np.float64)
    other_floc = np.zeros(n_vox)
    for group, seeds in FLOC_SEEDS.items():
        names = ROI_LABEL_NAMES[group]
        free = cortex.copy()
        for label_name, (au, sv, sw, share, left_share) in seeds.items():
            for hemi_sign, hemi_share, hemi in ((-1, left_share, left), (1, 1 - left_share, ~left)):
                n = max(1, int(round(target[group] * share * hemi_share * rng.uniform(0.8, 1.2))))
                seed_norm = np.array([hemi_sign * au, sv, sw]) + rng.normal(0, 0.05, 3)
                seed_vox = centre + seed_norm * semi
                chosen = _nearest(vox, free & hemi, seed_vox, n, penalty=other_floc)
                rois[group][chosen] = names.index(label_name)
                free[chosen] = False
        other_floc[rois[group] > 0] = 25.0

    shape = tuple(int(n) for n in dims)
    return Anatomy(
        affine=affine,
        brain=brain.reshape(shape),
        cortex=cortex.reshape(shape),
        left=left.reshape(shape),
        rois={k: r.reshape(shape) for k, r in rois.items()},
        rf=rf.reshape(shape + (3,)),
        norm=norm.astype(np.float32).reshape(shape + (3,)),
    )

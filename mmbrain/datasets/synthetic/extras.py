# Copyright (c) mmbrain contributors. All rights reserved.
"""The rest of NSD's release in the synthetic world (``make_synthetic_nsd(..., nsd_extras=True)``).

Besides ``betas_fithrf_GLMdenoise_RR`` (b3), NSD ships the same trials from two simpler GLMs, its own noise-ceiling
SNR, the subject's anatomy on the functional grid and every beta on the fsaverage surface. The synthetic world
writes them in NSD's layout (``docs/data.md``):

* ``betas_assumehrf`` (b1) and ``betas_fithrf`` (b2): cheap variants of the same responses, ``a * beta + e *
  noise_sd * N(0, 1)`` with (a, e) = :data:`VARIANTS`, so their true ncsnr is ``a * ncsnr / sqrt(a^2 + e^2)``
  (lower than b3's, as in NSD where GLMdenoise and ridge regression raise the SNR);
* ``ncsnr.nii.gz`` (the true ncsnr, 0 outside the responsive voxels) and ``meanbeta.nii.gz`` (the mean over the
  subject's trials, percent signal change) in each betas folder; ``T1_to_func1pt8mm.nii.gz`` (white matter
  bright, cortex grey, background dark);
* a synthetic fsaverage: its vertices are the cortex voxels of a reference brain (subject 1's anatomy), left
  hemisphere in ``lh.*``, with ``surf/{lh,rh}.white`` (mm coordinates, triangles of the convex hull of their
  directions) and ``label/{lh,rh}.<roi>.mgz`` (the reference brain's ROI values, shared by every subject as
  fsaverage labels are). Each subject's surface betas (``{lh,rh}.betas_sessionNN.mgh``, float32 percent signal
  change, vertices x 1 x 1 x trials) and ``{lh,rh}.ncsnr.mgh`` sample its own cortex voxel nearest to the vertex
  in normalised brain coordinates.
"""

from typing import Dict

import numpy as np

from ..nsd_files import (
    BETAS_VERSIONS,
    DEFAULT_BETAS,
    HEMIS,
    ROI_LABEL_NAMES,
    betas_path,
    ctab_path,
    fsaverage_surface_path,
    meanbeta_path,
    ncsnr_path,
    roi_path,
    t1_path,
)
from .anatomy import Anatomy
from .native import write_betas, write_ctab, write_mgh, write_surface, write_volume

#: (gain a, extra noise e in units of the voxel's noise sd) of the b1 and b2 variants of the b3 betas.
VARIANTS: Dict[str, tuple] = {BETAS_VERSIONS['b1']: (1.2, 0.8), BETAS_VERSIONS['b2']: (1.1, 0.5)}
SPACE = 'func1pt8mm'


def _hull_faces(directions: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull

    if len(directions) < 4:
        return np.zeros((0, 3), np.int32)
    jitter = np.random.default_rng(0).normal(0, 1e-3, directions.shape)
    return ConvexHull(directions + jitter).simplices.astype(np.int32)


class SyntheticFsaverage:
    """The synthetic fsaverage surface, built from a reference anatomy; writes its surfaces and labels."""

    def __init__(self, root: str, reference: Anatomy):
        self.norm, self.xyz = {}, {}
        ijk = np.argwhere(reference.cortex)  # C order over (X, Y, Z)
        left = reference.left[tuple(ijk.T)]
        for hemi, side in zip(HEMIS, (left, ~left)):
            vox = ijk[side]
            self.norm[hemi] = reference.norm[tuple(vox.T)]
            self.xyz[hemi] = vox @ reference.affine[:3, :3].T + reference.affine[:3, 3]
            norm = self.norm[hemi]
            write_surface(
                fsaverage_surface_path(root, hemi, 'white'),
                self.xyz[hemi],
                _hull_faces(norm / np.linalg.norm(norm, axis=1, keepdims=True)),
            )
            for name, labels in reference.rois.items():
                write_mgh(roi_path(root, 0, name, 'fsaverage', hemi), labels[tuple(vox.T)].astype(np.float32))
        for name in reference.rois:
            write_ctab(ctab_path(root, 0, name, 'fsaverage'), ROI_LABEL_NAMES[name])


class SubjectExtras:
    """NSD's extra files of one subject, written session by session alongside the b3 betas.

    Args:
        root: the world's root.
        subject: 1-based subject.
        anatomy: the subject's anatomy.
        brain: flat C-order (X, Y, Z) indices of the brain voxels, the columns of the session betas.
        ncsnr: (X, Y, Z) true ncsnr of the b3 betas.
        noise_sd: (brain voxels,) noise sd of each voxel.
        surface: the synthetic fsaverage.
        rng: the subject's generator of the variants' extra noise.
    """

    def __init__(
        self,
        root: str,
        subject: int,
        anatomy: Anatomy,
        brain: np.ndarray,
        ncsnr: np.ndarray,
        noise_sd: np.ndarray,
        surface: SyntheticFsaverage,
        rng: np.random.Generator,
    ):
        from scipy.spatial import cKDTree

        self.root, self.subject, self.anatomy, self.brain = root, subject, anatomy, brain
        self.noise_sd, self.rng = noise_sd, rng
        self.ncsnr = {DEFAULT_BETAS: ncsnr}
        for version, (a, e) in VARIANTS.items():
            self.ncsnr[version] = ncsnr * a / np.sqrt(a**2 + e**2)
        self.sums = {version: np.zeros(len(brain)) for version in self.ncsnr}
        self.n_trials = 0
        # Each fsaverage vertex samples the subject's cortex voxel of the same hemisphere nearest in (u, v, w).
        flat_cortex = np.flatnonzero(anatomy.cortex.reshape(-1))
        left = anatomy.left.reshape(-1)[flat_cortex]
        norm = anatomy.norm.reshape(-1, 3)[flat_cortex]
        self.columns = {}
        for hemi, side in zip(HEMIS, (left, ~left)):
            _, nearest = cKDTree(norm[side]).query(surface.norm[hemi])
            self.columns[hemi] = np.searchsorted(brain, flat_cortex[side][nearest])

    def add_session(self, session: int, beta: np.ndarray) -> None:
        """Write the session's b1/b2 betas and surface betas of every version; ``beta`` (trials, brain) in %."""
        x, y, z = self.anatomy.shape
        self.n_trials += len(beta)
        for version in self.ncsnr:
            if version in VARIANTS:
                a, e = VARIANTS[version]
                beta_v = a * beta + e * self.noise_sd * self.rng.standard_normal(beta.shape, dtype=np.float32)
                volume = np.zeros((len(beta), x * y * z), np.int16)
                i, j, k = np.unravel_index(self.brain, (x, y, z))
                volume[:, (k * y + j) * x + i] = np.clip(np.round(beta_v * 300), -32768, 32767)
                write_betas(
                    betas_path(self.root, self.subject, session, SPACE, version), volume.reshape(len(beta), z, y, x)
                )
            else:
                beta_v = beta
            self.sums[version] += beta_v.sum(0)
            for hemi in HEMIS:
                write_mgh(
                    betas_path(self.root, self.subject, session, 'fsaverage', version, hemi),
                    beta_v[:, self.columns[hemi]],
                )

    def close(self) -> None:
        """Write the ncsnr and mean-beta maps of every version and the T1."""
        a = self.anatomy
        for version, ncsnr in self.ncsnr.items():
            write_volume(ncsnr_path(self.root, self.subject, SPACE, version), ncsnr, a.affine)
            mean = np.zeros(a.brain.size, np.float32)
            mean[self.brain] = self.sums[version] / max(1, self.n_trials)
            write_volume(meanbeta_path(self.root, self.subject, SPACE, version), mean.reshape(a.shape), a.affine)
            flat = ncsnr.reshape(-1)
            for hemi in HEMIS:
                write_mgh(
                    ncsnr_path(self.root, self.subject, 'fsaverage', version, hemi),
                    flat[self.brain[self.columns[hemi]]],
                )
        t1 = np.where(a.brain & ~a.cortex, 1.0, np.where(a.cortex, 0.6, 0.05))
        t1 = t1 + np.random.default_rng([self.subject, 99]).normal(0, 0.02, t1.shape)
        write_volume(t1_path(self.root, self.subject, SPACE), t1, a.affine)

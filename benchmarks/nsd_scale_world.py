# Copyright (c) mmbrain contributors. All rights reserved.
"""An NSD-sized world in mmbrain's converted format, for the benchmarks (random values, real sizes).

    python benchmarks/nsd_scale_world.py OUT [--subjects 1 2] [--sessions 1] [--img-px 425]

Writes ``OUT/mmbrain/subjXX.h5`` (through :class:`mmbrain.datasets.converted_file.ConvertedSubjectWriter`, the
format every loader reads) and ``OUT/nsd_stimuli.hdf5`` (``imgBrick`` of ``--img-px`` RGB images, as NSD's
425 px stimulus file). What is NSD-sized: the six ROI groups hold 7000 / 4000 / 4500 / 3500 / 4000 / 20000
voxels (43k per sample, the reference encoder's sizes) scaled per subject by that subject's ``nsdgeneral`` voxel
count in func1pt8mm relative to the eight-subject mean (subject 1: 46.5k, subject 7: 37.5k); sessions of 750
single trials z-scored per session; images of 425 px. The betas are standard normal and the images noise: the
benchmarks measure bytes moved and work done, not learning.
"""

import argparse
import json
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np

ROI_GROUPS = ('prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams')
GROUP_VOXELS = (7000, 4000, 4500, 3500, 4000, 20000)
#: ``nsdgeneral`` voxels of subjects 1-8 in func1pt8mm (NSD data manual).
NSDGENERAL_VOXELS = (15724, 14278, 15226, 13153, 13039, 17907, 12682, 14386)
TRIALS_PER_SESSION = 750


def group_voxels(subject: int, scale: float = 1.0) -> Dict[str, int]:
    """Voxels per ROI group of ``subject`` (1-8), times ``scale`` (tiny worlds for dry runs)."""
    rel = NSDGENERAL_VOXELS[(subject - 1) % 8] / np.mean(NSDGENERAL_VOXELS)
    return {g: max(int(round(n * rel * scale)), 1) for g, n in zip(ROI_GROUPS, GROUP_VOXELS)}


def write_stimuli(path: str, n_images: int, img_px: int, seed: int = 0) -> None:
    """``imgBrick`` (n_images, img_px, img_px, 3) uint8, contiguous like NSD's file, written in blocks."""
    import h5py

    rng = np.random.default_rng(seed)
    tmp = path + '.partial'
    with h5py.File(tmp, 'w') as f:
        brick = f.create_dataset('imgBrick', shape=(n_images, img_px, img_px, 3), dtype=np.uint8)
        for start in range(0, n_images, 256):
            stop = min(start + 256, n_images)
            brick[start:stop] = rng.integers(0, 256, (stop - start, img_px, img_px, 3), dtype=np.uint8)
    os.replace(tmp, path)


def write_subject(
    path: str,
    subject: int,
    sessions: int,
    n_images: int,
    voxel_scale: float = 1.0,
    trials: int = TRIALS_PER_SESSION,
    seed: int = 0,
) -> int:
    """One subject's converted file (single trials, ``sessions`` x ``trials`` rows); returns its voxels per row."""
    from mmbrain.datasets.converted_file import ConvertedSubjectWriter

    rng = np.random.default_rng((seed, subject))
    rows = sessions * trials
    shared = n_images // 10  # the first tenth of the images is "shared1000"
    nsd_id = rng.integers(0, n_images, rows)
    session = np.repeat(np.arange(1, sessions + 1), trials)
    voxels = group_voxels(subject, voxel_scale)
    with ConvertedSubjectWriter(
        path,
        subject,
        space='func1pt8mm',
        zscore='session',
        averaged=False,
        affine=np.diag([1.8, 1.8, 1.8, 1.0]),
        grid_shape=(81, 104, 83),
        betas_version='random (benchmark)',
        rois_source='benchmark',
    ) as w:
        w.write_rows(nsd_id, session, nsd_id < shared, np.ones(rows, np.int8))
        for group, n in voxels.items():
            ijk = np.stack(np.unravel_index(np.sort(rng.choice(81 * 104 * 83, n, replace=False)), (81, 104, 83)), 1)
            betas = w.create_group(
                group, rows, np.ones(n, np.int8), ['Unknown', group], ijk=ijk, xyz=(ijk * 1.8 - 75).astype(np.float32)
            )
            for s in range(sessions):
                betas[s * trials : (s + 1) * trials] = rng.standard_normal((trials, n), dtype=np.float32)
    return sum(voxels.values())


def write_nsd_scale_world(
    out_dir: str,
    subjects: Sequence[int] = (1, 2),
    sessions: int = 1,
    img_px: int = 425,
    n_images: int = 1000,
    voxel_scale: float = 1.0,
    trials: int = TRIALS_PER_SESSION,
    seed: int = 0,
) -> Dict:
    """Write the world; returns ``data_root``, ``stimuli_file``, voxels per row of each subject, sizes on disk."""
    data_root = osp.join(out_dir, 'mmbrain')
    os.makedirs(data_root, exist_ok=True)
    stimuli = osp.join(out_dir, 'nsd_stimuli.hdf5')
    write_stimuli(stimuli, n_images, img_px, seed)
    from mmbrain.datasets.converted_file import converted_path

    voxels = {
        s: write_subject(converted_path(data_root, s), s, sessions, n_images, voxel_scale, trials, seed)
        for s in subjects
    }
    disk = sum(osp.getsize(osp.join(data_root, f)) for f in os.listdir(data_root))
    return dict(
        data_root=data_root,
        stimuli_file=stimuli,
        subjects=list(subjects),
        sessions=sessions,
        rows_per_subject=sessions * trials,
        voxels_per_row=voxels,
        img_px=img_px,
        n_images=n_images,
        converted_mib=round(disk / 2**20, 1),
        stimuli_mib=round(osp.getsize(stimuli) / 2**20, 1),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out')
    p.add_argument('--subjects', type=int, nargs='+', default=[1, 2])
    p.add_argument('--sessions', type=int, default=1)
    p.add_argument('--trials', type=int, default=TRIALS_PER_SESSION, help='trials per session')
    p.add_argument('--img-px', type=int, default=425)
    p.add_argument('--images', type=int, default=1000)
    p.add_argument('--voxel-scale', type=float, default=1.0, help='shrink the voxel counts (dry runs)')
    a = p.parse_args()
    print(json.dumps(write_nsd_scale_world(a.out, a.subjects, a.sessions, a.img_px, a.images, a.voxel_scale, a.trials)))


if __name__ == '__main__':
    main()

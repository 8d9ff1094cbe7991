# Copyright (c) mmbrain contributors. All rights reserved.
"""Writers of NSD's native file formats, used by the synthetic world (the readers are in ``nsd_files.py``)."""

import os
import os.path as osp
from typing import Sequence

import numpy as np

_CTAB_COLOURS = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
    ]
)


def _parent(path: str) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    return path


def write_roi_nifti(path: str, labels: np.ndarray, affine: np.ndarray) -> None:
    """An ROI volume (X, Y, Z) int16 with -1 / 0 / labels, as NSD's ``roi/*.nii.gz``."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(labels, np.int16), affine)
    img.header.set_xyzt_units('mm')
    nib.save(img, _parent(path))


def write_ctab(path: str, names: Sequence[str]) -> None:
    """A FreeSurfer colour table: ``index name r g b a`` per line, ``0 Unknown`` first."""
    with open(_parent(path), 'w') as f:
        for i, name in enumerate(names):
            r, g, b = _CTAB_COLOURS[i % len(_CTAB_COLOURS)]
            f.write(f'{i:3d}  {name:<16s} {r:3d} {g:3d} {b:3d}   0\n')


def write_expdesign(path: str, masterordering: np.ndarray, subjectim: np.ndarray, sharedix: np.ndarray) -> None:
    """``nsd_expdesign.mat`` with 1-based ``masterordering`` (1, T), ``subjectim`` (S, N), ``sharedix`` (1, n)."""
    from scipy.io import savemat

    savemat(
        _parent(path),
        dict(
            masterordering=np.asarray(masterordering, np.float64).reshape(1, -1),
            subjectim=np.asarray(subjectim, np.float64),
            sharedix=np.asarray(sharedix, np.float64).reshape(1, -1),
        ),
    )


def write_stim_info(
    path: str,
    coco_ids: np.ndarray,
    coco_splits: Sequence[str],
    subjectim0: np.ndarray,
    shared0: np.ndarray,
    image_order0: np.ndarray,
) -> None:
    """``nsd_stim_info_merged.csv``: one row per stimulus, NSD's columns.

    Args:
        coco_ids / coco_splits: per nsd_id.
        subjectim0: (S, N) 0-based nsd_ids of each subject's images.
        shared0: 0-based nsd_ids of the shared images.
        image_order0: (T,) 0-based index into a subject's images of each global trial.
    """
    import pandas as pd

    n_stim = len(coco_ids)
    n_subjects = subjectim0.shape[0]
    table = {
        'cocoId': np.asarray(coco_ids, np.int64),
        'cocoSplit': list(coco_splits),
        'cropBox': ['(0, 0, 0, 0)'] * n_stim,
        'loss': np.zeros(n_stim),
        'nsdId': np.arange(n_stim),
        'flagged': np.zeros(n_stim, bool),
        'BOLD5000': np.zeros(n_stim, bool),
        'shared1000': np.isin(np.arange(n_stim), shared0),
    }
    reps = np.zeros((n_subjects, n_stim, 3), np.int64)
    for s in range(n_subjects):
        seen = np.zeros(n_stim, np.int64)
        table[f'subject{s + 1}'] = np.isin(np.arange(n_stim), subjectim0[s]).astype(np.int64)
        for trial, k in enumerate(image_order0):
            nsd_id = subjectim0[s, k]
            if seen[nsd_id] < 3:
                reps[s, nsd_id, seen[nsd_id]] = trial + 1  # 1-based global trial number
            seen[nsd_id] += 1
    for s in range(n_subjects):
        for r in range(3):
            table[f'subject{s + 1}_rep{r}'] = reps[s, :, r]
    pd.DataFrame(table).to_csv(_parent(path))


def write_stimuli(path: str, images: np.ndarray) -> None:
    """``nsd_stimuli.hdf5`` with ``imgBrick`` (N, P, P, 3) uint8 RGB."""
    import h5py

    with h5py.File(_parent(path), 'w') as f:
        f.create_dataset('imgBrick', data=np.asarray(images, np.uint8))


def write_betas(path: str, betas_tzyx: np.ndarray) -> None:
    """``betas_sessionNN.hdf5`` with ``betas`` (trials, Z, Y, X) int16, chunked per row of voxels over trials."""
    import h5py

    t, z, y, x = betas_tzyx.shape
    with h5py.File(_parent(path), 'w') as f:
        f.create_dataset('betas', data=betas_tzyx, chunks=(t, 1, 1, x))


def write_volume(path: str, volume: np.ndarray, affine: np.ndarray) -> None:
    """A float32 3-D map on the ROI grid (NSD's ``ncsnr.nii.gz``, ``meanbeta.nii.gz``, ``T1_to_<space>.nii.gz``)."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(volume, np.float32), affine)
    img.header.set_xyzt_units('mm')
    nib.save(img, _parent(path))


def write_mgh(path: str, values: np.ndarray) -> None:
    """A FreeSurfer overlay: (V,) values, or (trials, V) betas stored as NSD's (V, 1, 1, trials) float32 ``.mgh``."""
    import nibabel as nib

    values = np.asarray(values, np.float32)
    data = values.reshape(-1, 1, 1) if values.ndim == 1 else values.T.reshape(values.shape[1], 1, 1, -1)
    nib.save(nib.MGHImage(np.ascontiguousarray(data), np.eye(4)), _parent(path))


def write_surface(path: str, coords: np.ndarray, faces: np.ndarray) -> None:
    """A FreeSurfer surface (``surf/lh.white``): vertex coordinates (mm) and triangles."""
    import nibabel as nib

    nib.freesurfer.write_geometry(_parent(path), np.asarray(coords, np.float64), np.asarray(faces, np.int32))

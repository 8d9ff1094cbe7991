# Copyright (c) mmbrain contributors. All rights reserved.
"""Convert NSD's native files into mmbrain's per-subject files (schema in :mod:`.converted_file`).

For each subject: the six ROI groups' voxels (label > 0 in ``roi/<group>.nii.gz``) are located in every
``betas_sessionNN.hdf5`` (``h5[t, k, j, i]`` is voxel (i, j, k) of the NIfTI grid), divided by 300 (percent
signal change), z-scored per voxel within each session (unless ``zscore=False``), and written row by row, one
row per trial (global trial order) or, with ``average_repeats``, one row per image (mean of its repetitions,
rows in ascending nsd_id). The noise-ceiling SNR of every voxel is estimated from the repeated images as NSD
does (``ncsnr = sqrt(max(0, var_total - var_noise)) / sqrt(var_noise)``, ``var_noise`` the mean variance across
repetitions) and stored as ``rois/G/ncsnr``.

Memory is bounded by one session: sessions are streamed, averaging accumulates in the output file itself.
Every input is validated before anything is written; each output appears atomically when complete.
"""

import os.path as osp
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .converted_file import ConvertedSubjectWriter, converted_path
from .nsd_files import (
    BETA_SCALE,
    ROI_GROUPS,
    SPACES,
    NSDDesign,
    NSDFormatError,
    ROIVolume,
    betas_path,
    ctab_path,
    expdesign_path,
    find_sessions,
    find_subjects,
    label_name_list,
    open_betas,
    read_ctab,
    read_expdesign,
    read_roi_volume,
    read_voxels,
    roi_path,
    stimuli_path,
    voxel_coordinates,
)

_ROW_BLOCK = 1024  # rows per block in the final pass over averaged rows
_IMAGE_BLOCK = 256  # images per block in the final pass over single trials (their repetitions are read together)


@dataclass
class _SubjectPlan:
    """Everything validated about one subject before its conversion starts."""
    subject: int
    n_sessions: int
    n_trials: int  # per session
    rois: Dict[str, ROIVolume]
    label_names: Dict[str, List[str]]
    out_path: str


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, **kwargs)


def _n_stimuli(root: str) -> Optional[int]:
    """Rows of ``imgBrick`` when the stimulus file is present (to range-check nsd_ids)."""
    import h5py
    path = stimuli_path(root)
    if not osp.isfile(path):
        return None
    try:
        with h5py.File(path, 'r') as f:
            return int(f['imgBrick'].shape[0])
    except (OSError, KeyError) as exc:
        raise NSDFormatError(f'{path}: cannot read dataset "imgBrick" ({exc})') from exc


def _plan_subject(root: str, subject: int, design: NSDDesign, n_sessions: Optional[int], space: str,
                  out_dir: str) -> _SubjectPlan:
    if subject < 1 or subject > design.subject_images.shape[0]:
        raise NSDFormatError(f'{expdesign_path(root)}: subjectim has {design.subject_images.shape[0]} rows, '
                             f'no subject {subject}')
    rois: Dict[str, ROIVolume] = {}
    names: Dict[str, List[str]] = {}
    for group in ROI_GROUPS:
        vol = read_roi_volume(roi_path(root, subject, group, space))
        first = next(iter(rois.values()), None)
        if first is not None:
            if vol.labels.shape != first.labels.shape:
                raise NSDFormatError(f'{vol.path}: grid {vol.labels.shape} differs from {first.path} '
                                     f'{first.labels.shape}')
            if not np.allclose(vol.affine, first.affine, atol=1e-4):
                raise NSDFormatError(f'{vol.path}: affine differs from that of {first.path}')
        n_labels = int(vol.labels.max())
        if n_labels < 1:
            raise NSDFormatError(f'{vol.path}: no labelled voxel (all values <= 0)')
        table = read_ctab(ctab_path(root, subject, group))
        missing = sorted(set(np.unique(vol.labels[vol.labels > 0]).tolist()) - set(table))
        if missing:
            raise NSDFormatError(f'{ctab_path(root, subject, group)}: no name for labels {missing} used in {vol.path}')
        rois[group] = vol
        names[group] = label_name_list(table, n_labels)
    grid = next(iter(rois.values())).labels.shape
    sessions = n_sessions if n_sessions is not None else find_sessions(root, subject, space)
    n_trials = None
    for session in range(1, sessions + 1):
        f, ds = open_betas(betas_path(root, subject, session, space), grid, n_trials,
                           roi_path(root, subject, ROI_GROUPS[0], space))
        n_trials = int(ds.shape[0])
        f.close()
    if sessions * n_trials > len(design.image_order):
        raise NSDFormatError(f'{expdesign_path(root)}: masterordering has {len(design.image_order)} trials, '
                             f'but subject {subject} has {sessions} sessions of {n_trials} trials')
    return _SubjectPlan(subject, sessions, n_trials, rois, names, converted_path(out_dir, subject))


def convert_nsd(nsd_root: str, out_dir: str, subjects: Optional[Sequence[int]] = None,
                n_sessions: Optional[int] = None, space: str = 'func1pt8mm', zscore: bool = True,
                average_repeats: bool = False, overwrite: bool = False, progress: bool = True) -> List[str]:
    """Convert NSD subjects to ``out_dir/subjXX.h5``.

    Args:
        nsd_root: folder holding ``nsddata/``, ``nsddata_betas/`` (and ``nsddata_stimuli/``).
        out_dir: output folder.
        subjects: 1-based subjects; default every ``nsddata_betas/ppdata/subjXX``.
        n_sessions: use sessions 1..n_sessions; default all consecutive sessions found.
        space: ``func1pt8mm`` or ``func1mm``.
        zscore: z-score each voxel within each session.
        average_repeats: one row per image (mean of its repetitions) instead of one per trial.
        overwrite: replace existing outputs (atomically); without it existing outputs stop the run.
        progress: show progress bars.

    Returns:
        The written file paths.

    Raises:
        NSDFormatError: bad input (the message names the file and the problem); nothing is written.
        FileExistsError: an output exists and ``overwrite`` is False; nothing is written.
    """
    if space not in SPACES:
        raise NSDFormatError(f'space must be one of {SPACES}, got {space!r}')
    if n_sessions is not None and n_sessions < 1:
        raise NSDFormatError(f'--sessions must be positive, got {n_sessions}')
    subjects = list(subjects) if subjects else find_subjects(nsd_root)
    existing = [converted_path(out_dir, s) for s in subjects if osp.exists(converted_path(out_dir, s))]
    if existing and not overwrite:
        raise FileExistsError(f'{", ".join(existing)}: already converted (pass --overwrite to replace)')
    design = read_expdesign(expdesign_path(nsd_root), _n_stimuli(nsd_root))
    plans = [_plan_subject(nsd_root, s, design, n_sessions, space, out_dir) for s in subjects]
    written = []
    for plan in plans:
        _convert_subject(nsd_root, plan, design, space, zscore, average_repeats, overwrite, progress)
        written.append(plan.out_path)
    return written


def _zscore(x: np.ndarray) -> np.ndarray:
    """Z-score columns in place (constant columns become 0); returns the number of constant columns."""
    mean = x.mean(0)
    sd = x.std(0)
    constant = sd == 0
    x -= mean
    x /= np.where(constant, 1, sd)
    return int(constant.sum())


def _convert_subject(root: str, plan: _SubjectPlan, design: NSDDesign, space: str, zscore: bool,
                     average: bool, overwrite: bool, progress: bool) -> None:
    t_sess = plan.n_trials
    total = plan.n_sessions * t_sess
    trial_ids = design.trial_nsd_ids(plan.subject, 0, total)
    images, image_of_trial, n_repeats = np.unique(trial_ids, return_inverse=True, return_counts=True)
    shared = np.isin(images, design.shared)

    # Union of the groups' voxels (flat C-order indices over (X, Y, Z)), and each group's columns in it.
    grid = next(iter(plan.rois.values())).labels.shape
    flat = {g: np.flatnonzero(v.labels.reshape(-1) > 0) for g, v in plan.rois.items()}
    union = np.unique(np.concatenate(list(flat.values())))
    cols = {g: np.searchsorted(union, f) for g, f in flat.items()}
    i, j, k = np.unravel_index(union, grid)
    kji = np.stack([k, j, i], 1)

    # Running per-voxel sums for ncsnr: over all trials, and over the trials of repeated images.
    repeated_trial = n_repeats[image_of_trial] >= 2
    sum_all = np.zeros(len(union))
    sumsq_all = np.zeros(len(union))
    sumsq_rep = np.zeros(len(union))
    n_constant = 0
    with ConvertedSubjectWriter(plan.out_path, plan.subject, space, 'session' if zscore else 'none', average,
                                overwrite) as writer:
        if average:
            writer.write_rows(images, np.zeros(len(images)), shared, n_repeats)
            n_rows = len(images)
        else:
            writer.write_rows(trial_ids, np.repeat(np.arange(1, plan.n_sessions + 1), t_sess),
                              np.isin(trial_ids, design.shared), np.ones(total))
            n_rows = total
        betas = {}
        for g, vol in plan.rois.items():
            ijk = np.stack(np.unravel_index(flat[g], grid), 1)
            betas[g] = writer.create_group(g, n_rows, vol.labels.reshape(-1)[flat[g]], plan.label_names[g], ijk=ijk,
                                           xyz=voxel_coordinates(ijk, vol.affine))

        for session in _progress(range(1, plan.n_sessions + 1), progress, desc=f'subj{plan.subject:02d}',
                                 unit='session'):
            path = betas_path(root, plan.subject, session, space)
            f, ds = open_betas(path, grid, t_sess)
            try:
                raw = read_voxels(ds, kji)
            finally:
                f.close()
            if raw.dtype.kind == 'f':
                bad = ~np.isfinite(raw)
                if bad.any():
                    t, v = np.argwhere(bad)[0]
                    raise NSDFormatError(f'{path}: {int(bad.sum())} NaN/inf betas, first at trial {t}, voxel '
                                         f'(i, j, k) = {tuple(int(c) for c in (i[v], j[v], k[v]))}')
            x = raw.astype(np.float32) / np.float32(BETA_SCALE)
            del raw
            if zscore:
                n_constant += _zscore(x)
            t0 = (session - 1) * t_sess
            rows = image_of_trial[t0:t0 + t_sess]
            x64 = x.astype(np.float64)
            sum_all += x64.sum(0)
            sumsq_all += (x64 ** 2).sum(0)
            sumsq_rep += (x64[repeated_trial[t0:t0 + t_sess]] ** 2).sum(0)
            del x64
            if average:
                order = np.argsort(rows, kind='stable')
                uniq, starts = np.unique(rows[order], return_index=True)
                sums = np.add.reduceat(x[order], starts, axis=0)
                for g, ds_out in betas.items():
                    ds_out[uniq] = ds_out[uniq] + sums[:, cols[g]]
            else:
                for g, ds_out in betas.items():
                    ds_out[t0:t0 + t_sess] = x[:, cols[g]]

        # Final pass: sums of repetitions per image -> ncsnr (and means, when averaging).
        rep_images = np.flatnonzero(n_repeats >= 2)
        for g, ds_out in betas.items():
            between = np.zeros(len(cols[g]))  # sum over repeated images of (sum of repetitions)^2 / n
            if average:
                for a in range(0, n_rows, _ROW_BLOCK):
                    block = ds_out[a:a + _ROW_BLOCK].astype(np.float64)
                    n = n_repeats[a:a + _ROW_BLOCK, None]
                    between += ((block ** 2) / n)[n[:, 0] >= 2].sum(0)
                    ds_out[a:a + _ROW_BLOCK] = (block / n).astype(np.float32)
            else:
                trial_order = np.argsort(image_of_trial, kind='stable')
                trial_starts = np.searchsorted(image_of_trial[trial_order], np.arange(len(images) + 1))
                for a in range(0, len(rep_images), _IMAGE_BLOCK):
                    block_images = rep_images[a:a + _IMAGE_BLOCK]
                    members = [trial_order[trial_starts[m]:trial_starts[m + 1]] for m in block_images]
                    trials = np.concatenate(members)
                    sort = np.argsort(trials)
                    data = np.empty((len(trials), len(cols[g])))
                    data[sort] = ds_out[trials[sort]]
                    bounds = np.cumsum([0] + [len(m) for m in members])[:-1]
                    sums = np.add.reduceat(data, bounds, axis=0)
                    between += (sums ** 2 / n_repeats[block_images, None]).sum(0)
            if len(rep_images):
                dof = float((n_repeats[rep_images] - 1).sum())
                var_noise = np.maximum(sumsq_rep[cols[g]] - between, 0) / dof
                var_total = sumsq_all[cols[g]] / total - (sum_all[cols[g]] / total) ** 2
                signal = np.maximum(var_total - var_noise, 0)
                ncsnr = np.where(var_noise > 0, np.sqrt(signal) / np.sqrt(np.where(var_noise > 0, var_noise, 1)), 0)
                writer.write_ncsnr(g, ncsnr)
    if n_constant:
        warnings.warn(f'subject {plan.subject}: {n_constant} voxel-sessions had constant betas (e.g. outside the '
                      f'brain mask); their z-scores were set to 0', stacklevel=2)

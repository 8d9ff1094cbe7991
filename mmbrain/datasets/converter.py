# Copyright (c) mmbrain contributors. All rights reserved.
"""Convert NSD's native files into mmbrain's per-subject files (schema in :mod:`.converted_file`).

For each subject: the voxels of the chosen ROI files (label > 0 in ``roi/<name>.nii.gz``; by default the six
groups of the paper, Sec. 3.1) are located in every ``betas_sessionNN.hdf5`` of the chosen GLM version
(``h5[t, k, j, i]`` is voxel (i, j, k) of the NIfTI grid), divided by 300 (percent signal change), z-scored per
voxel within each session (unless ``zscore=False``), and written row by row, one row per trial (global trial
order) or, with ``average_repeats``, one row per image (mean of its repetitions, rows in ascending nsd_id).
On the fsaverage surface the same is done for the vertices of ``<hemi>.<name>.mgz`` in
``<hemi>.betas_sessionNN.mgh`` (left hemisphere first).

Each voxel's noise-ceiling SNR is NSD's own ``ncsnr.nii.gz`` (``<hemi>.ncsnr.mgh``) when the betas folder has it,
else it is estimated from the repeated images as NSD does (:func:`mmbrain.evaluation.functional.ncsnr_from_variances`
of the sample variances); the file records which (``ncsnr_source``).

Memory is bounded by one session: sessions are streamed, averaging accumulates in the output file itself.
Every option and input file is checked before any work; every subject is then converted into temporary files,
synced and verified, and only when all are complete is anything published (a bad beta in the last subject's
last session publishes nothing). Beside each volume-space ``subjXX.h5`` the subject's anatomy on the same grid is
saved (``subjXX_anatomy.nii.gz``: NSD's T1 when present, else its mean beta; for fsaverage the meshes) as the
background of result maps (:mod:`mmbrain.evaluation.brain_maps`); per subject these are published just before
``subjXX.h5``, so a converted file always has them, and what a kill in between leaves is byte-identical to what
the rerun writes (no conflict).
"""

import errno
import gzip
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..evaluation.functional.noise_ceiling import ncsnr_from_variances
from ..utils.atomic import AtomicOutput, OutputError, check_output, storage_error
from ..utils.logging import get_logger, progress_bar
from .converted_file import ConvertedSubjectWriter, anatomy_path, converted_path, mesh_path, subject_tag
from .nsd_files import (
    BETA_SCALE,
    DEFAULT_BETAS,
    HEMIS,
    ROI_GROUPS,
    SPACES,
    SURFACE_SPACES,
    NSDDesign,
    NSDFormatError,
    NSDOptionError,
    betas_dir,
    betas_path,
    betas_version_folder,
    ctab_path,
    expdesign_path,
    find_sessions,
    find_subjects,
    fsaverage_surface_path,
    mean_volume,
    meanbeta_path,
    mni_transform_path,
    ncsnr_path,
    open_betas,
    read_expdesign,
    read_label_names,
    read_mni_coordinates,
    read_roi_volume,
    read_surface_betas,
    read_surface_geometry,
    read_surface_labels,
    read_surface_map,
    read_volume_map,
    read_voxels,
    roi_path,
    stimuli_path,
    surface_betas_shape,
    t1_path,
    voxel_coordinates,
)

_ROW_BLOCK = 1024  # rows per block in the final pass over averaged rows
_IMAGE_BLOCK = 256  # images per block in the final pass over single trials (their repetitions are read together)
NCSNR_MODES = ('auto', 'nsd', 'estimate')
NAN_POLICIES = ('error', 'drop-voxels')
#: Frames of ``rois/G/xyz`` in volume spaces: each subject's own scanner millimetres, or MNI (NSD's transforms).
COORDINATE_FRAMES = ('native', 'mni')


@dataclass
class _Group:
    """One ROI group of a subject: its voxels (or vertices) and their tables."""

    label: np.ndarray
    label_names: List[str]
    keys: np.ndarray  # sorted unit keys (flat C-order voxel index, or hemi * n_lh + vertex)
    tables: Dict[str, np.ndarray]  # ijk | vertex + hemi, and xyz when known
    cols: np.ndarray = None  # columns of the group in the union of all groups


@dataclass
class _SubjectPlan:
    """Everything validated about one subject before its conversion starts."""

    subject: int
    sessions: List[int]
    n_trials: int  # per session
    groups: Dict[str, _Group]
    union: np.ndarray  # sorted unit keys of all groups
    read_session: Callable[[int, np.ndarray], np.ndarray]  # (session, union keys) -> raw (trials, units)
    session_file: Callable[[int], str]
    unit_name: Callable[[int], str]  # describes a unit key in messages
    out_path: str
    ncsnr: Optional[np.ndarray] = None  # NSD's ncsnr of the union's units, when used
    ncsnr_file: str = ''
    beta_scale: float = BETA_SCALE  # stored value / beta_scale = percent signal change
    anatomy: Optional[Tuple[np.ndarray, np.ndarray, str]] = None  # (X, Y, Z) volume, affine, source
    meshes: Dict[str, Tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # hemi -> (coords, faces)
    schema: Dict[str, object] = field(default_factory=dict)  # v2 values: affine, grid_shape, surface_vertices, ...


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


# ----------------------------------------------------------------------------------------------------------------
# Planning: read and check every input of a subject before anything is written
# ----------------------------------------------------------------------------------------------------------------
def _volume_groups(root: str, subject: int, rois: Sequence[str], space: str):
    """ROI volumes of the chosen names, checked to share one grid and affine."""
    groups, first = {}, None
    for name in rois:
        vol = read_roi_volume(roi_path(root, subject, name, space))
        if first is not None:
            if vol.labels.shape != first.labels.shape:
                raise NSDFormatError(
                    f'{vol.path}: grid {vol.labels.shape} differs from {first.path} {first.labels.shape}'
                )
            if not np.allclose(vol.affine, first.affine, atol=1e-4):
                raise NSDFormatError(f'{vol.path}: affine differs from that of {first.path}')
        first = first or vol
        if vol.labels.max() < 1:
            raise NSDFormatError(f'{vol.path}: no labelled voxel (all values <= 0)')
        names = read_label_names(ctab_path(root, subject, name, space), vol.labels, name)
        keys = np.flatnonzero(vol.labels.reshape(-1) > 0)
        ijk = np.stack(np.unravel_index(keys, vol.labels.shape), 1)
        groups[name] = _Group(
            label=vol.labels.reshape(-1)[keys],
            label_names=names,
            keys=keys,
            tables=dict(ijk=ijk, xyz=voxel_coordinates(ijk, vol.affine)),
        )
    return groups, first.labels.shape, first.affine, first.path


def _plan_volume(
    root: str, plan: _SubjectPlan, rois: Sequence[str], space: str, version: str, ncsnr: str, coordinates: str
) -> None:
    subject = plan.subject
    plan.groups, grid, affine, first_roi = _volume_groups(root, subject, rois, space)
    if coordinates == 'mni':  # one frame for all subjects: NSD's own transform of each voxel to MNI
        transform = mni_transform_path(root, subject, space)
        for g in plan.groups.values():
            g.tables['xyz'] = read_mni_coordinates(transform, grid, g.tables['ijk'])
    n_trials = None
    for session in plan.sessions:
        f, ds = open_betas(betas_path(root, subject, session, space, version), grid, n_trials, first_roi)
        n_trials = int(ds.shape[0])
        f.close()
    plan.n_trials = n_trials
    plan.union = all_keys = np.unique(np.concatenate([g.keys for g in plan.groups.values()]))
    i, j, k = np.unravel_index(all_keys, grid)
    kji = np.stack([k, j, i], 1)

    def read_session(session: int, keys: np.ndarray) -> np.ndarray:
        f, ds = open_betas(betas_path(root, subject, session, space, version), grid, n_trials)
        try:
            return read_voxels(ds, kji[np.searchsorted(all_keys, keys)])
        finally:
            f.close()

    plan.read_session = read_session
    plan.session_file = lambda session: betas_path(root, subject, session, space, version)
    plan.unit_name = lambda key: f'voxel (i, j, k) = {tuple(int(c) for c in np.unravel_index(key, grid))}'
    path = ncsnr_path(root, subject, space, version)
    if ncsnr == 'nsd' or (ncsnr == 'auto' and osp.isfile(path)):
        volume = read_volume_map(path, grid, affine, 'ncsnr')
        plan.ncsnr, plan.ncsnr_file = volume.reshape(-1)[plan.union], path
    elif ncsnr == 'auto':
        _warn_estimated_ncsnr(subject, path)
    plan.anatomy = _anatomy(root, subject, space, version, grid, affine, plan.sessions[0])
    plan.schema = dict(
        affine=affine,
        grid_shape=tuple(int(n) for n in grid),
        coordinate_space='MNI152' if coordinates == 'mni' else 'native',
    )


def _warn_estimated_ncsnr(subject: int, missing: str) -> None:
    get_logger().warning(
        f"{missing}: not found, so subject {subject}'s noise-ceiling SNR is ESTIMATED from the converted "
        "repetitions (fewer trials than NSD's own all-session ncsnr; ncsnr_source='estimated'); download it "
        '(docs/data.md) or pass --ncsnr estimate to choose this'
    )


def _anatomy(root: str, subject: int, space: str, version: str, grid, affine, session: int):
    """The subject's T1 on the betas grid, else NSD's mean beta, else the mean beta of the first session (a
    fallback says so in a warning naming the T1 file)."""
    t1 = t1_path(root, subject, space)
    if osp.isfile(t1):
        return read_volume_map(t1, grid, affine, 'T1').astype(np.float32), affine, f'T1 ({t1})'
    meanbeta = meanbeta_path(root, subject, space, version)
    if osp.isfile(meanbeta):
        volume, source = (
            read_volume_map(meanbeta, grid, affine, 'meanbeta').astype(np.float32),
            f'meanbeta ({meanbeta})',
        )
    else:
        f, ds = open_betas(betas_path(root, subject, session, space, version), grid)
        try:
            volume = mean_volume(ds) / np.float32(BETA_SCALE)
        finally:
            f.close()
        source = f'mean beta of session {session}'
    get_logger().warning(
        f"{t1}: not found, so the background of subject {subject}'s result maps (subjXX_anatomy.nii.gz) is the "
        f'{source} instead of the T1 (download it, docs/data.md)'
    )
    return volume, affine, source


def _check_roi_dir(roi_dir: str) -> None:
    """``--surface-roi-dir`` may name the subject only as ``{subject}`` (with a format, e.g. ``{subject:02d}``)."""
    try:
        roi_dir.format(subject=1)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        problem = f'unknown field {{{exc.args[0]}}}' if isinstance(exc, KeyError) else str(exc)
        raise NSDOptionError(
            f'--surface-roi-dir {roi_dir!r}: {problem}; the only field is {{subject}} (e.g. rois/subj{{subject:02d}}), '
            'write literal braces as {{ and }}'
        ) from exc


def _surface_roi_files(
    root: str, subject: int, name: str, space: str, roi_dir: Optional[str]
) -> Tuple[Dict[str, str], str]:
    """The lh/rh label files of an fsaverage ROI and its label table.

    With ``roi_dir`` (``{subject}`` replaced by the 1-based subject), ``<roi_dir>/<hemi>.<name>.mgz`` and its
    ``<name>.mgz.ctab`` there, else the subject's own ``nsddata/freesurfer/subjXX/label/<name>.mgz.ctab``; without
    it NSD's ``nsddata/freesurfer/fsaverage/label`` files.
    """
    if roi_dir is None:
        return {h: roi_path(root, subject, name, space, h) for h in HEMIS}, ctab_path(root, subject, name, space)
    folder = roi_dir.format(subject=subject)
    table = osp.join(folder, f'{name}.mgz.ctab')
    return (
        {h: osp.join(folder, f'{h}.{name}.mgz') for h in HEMIS},
        table if osp.isfile(table) else ctab_path(root, subject, name),
    )


def _plan_surface(
    root: str,
    plan: _SubjectPlan,
    rois: Sequence[str],
    space: str,
    version: str,
    ncsnr: str,
    surface: str,
    roi_dir: Optional[str],
) -> None:
    subject = plan.subject
    n_vertices, n_trials, kinds = {}, None, set()
    for session in plan.sessions:
        for hemi in HEMIS:
            path = betas_path(root, subject, session, space, version, hemi)
            v, t, dtype = surface_betas_shape(path)
            kinds.add(np.dtype(dtype).kind)
            if n_vertices.setdefault(hemi, v) != v:
                raise NSDFormatError(f'{path}: {v} vertices, but session {plan.sessions[0]} has {n_vertices[hemi]}')
            if n_trials is not None and t != n_trials:
                raise NSDFormatError(f'{path}: {t} trials, but the first session has {n_trials}')
            n_trials = t
    plan.n_trials = n_trials
    if len(kinds) > 1:
        raise NSDFormatError(f'{betas_dir(root, subject, space, version)}: sessions mix integer and float betas')
    # Integer .mgh betas are NSD's x300 int16 convention; float ones are taken as percent signal change.
    plan.beta_scale = BETA_SCALE if kinds == {'i'} else 1.0
    coords = {}
    for hemi in HEMIS:
        path = fsaverage_surface_path(root, hemi, surface)
        if osp.isfile(path):
            coords[hemi] = read_surface_geometry(path, n_vertices[hemi])[0]
        # The mesh shown under result maps: fsaverage's inflated surface when present.
        for mesh in (fsaverage_surface_path(root, hemi, 'inflated'), path):
            if osp.isfile(mesh):
                plan.meshes[hemi] = read_surface_geometry(mesh, n_vertices[hemi])
                break
    if len(coords) < 2:
        get_logger().warning(
            f'{fsaverage_surface_path(root, "lh", surface)} (or rh): not found, vertex coordinates '
            'left out (only encoders without the 3D voxel embedding can use the files)'
        )
    plan.groups = {}
    for name in rois:
        files, table = _surface_roi_files(root, subject, name, space, roi_dir)
        for path in files.values():
            if not osp.isfile(path):
                raise NSDFormatError(
                    f'{path}: file not found (NSD ships some ROIs on fsaverage, e.g. nsdgeneral and streams; '
                    "subject-specific ones such as prf-visualrois and floc-* exist on each subject's native surface "
                    'and must be mapped to fsaverage first, e.g. with nsdcode, then given with --surface-roi-dir)'
                )
        labels = {hemi: read_surface_labels(files[hemi], n_vertices[hemi]) for hemi in HEMIS}
        both = np.concatenate([labels['lh'], labels['rh']])
        if both.max() < 1:
            raise NSDFormatError(f'{files["lh"]} and rh: no labelled vertex')
        names = read_label_names(table, both, name)
        keys = np.flatnonzero(both > 0)
        hemi_index = (keys >= n_vertices['lh']).astype(np.int8)
        vertex = keys - np.where(hemi_index == 1, n_vertices['lh'], 0)
        tables = dict(vertex=vertex, hemi=hemi_index)
        if len(coords) == 2:
            tables['xyz'] = np.concatenate([coords['lh'], coords['rh']])[keys]
        plan.groups[name] = _Group(label=both[keys], label_names=names, keys=keys, tables=tables)
    plan.union = np.unique(np.concatenate([g.keys for g in plan.groups.values()]))

    def read_session(session: int, keys: np.ndarray) -> np.ndarray:
        parts = []
        for hemi, lo, hi in (('lh', 0, n_vertices['lh']), ('rh', n_vertices['lh'], sum(n_vertices.values()))):
            sel = keys[(keys >= lo) & (keys < hi)] - lo
            parts.append(read_surface_betas(betas_path(root, subject, session, space, version, hemi), sel))
        return np.concatenate(parts, 1)

    plan.read_session = read_session
    plan.session_file = lambda session: betas_path(root, subject, session, space, version, 'lh') + ' / rh'
    plan.unit_name = lambda key: (
        f'vertex {key} (lh)' if key < n_vertices['lh'] else f'vertex {key - n_vertices["lh"]} (rh)'
    )
    paths = {hemi: ncsnr_path(root, subject, space, version, hemi) for hemi in HEMIS}
    present = [osp.isfile(p) for p in paths.values()]
    if ncsnr == 'nsd' or (ncsnr == 'auto' and any(present)):
        values = np.concatenate([read_surface_map(paths[h], n_vertices[h], 'ncsnr') for h in HEMIS])
        plan.ncsnr, plan.ncsnr_file = values.astype(np.float64)[plan.union], ' and '.join(paths.values())
    elif ncsnr == 'auto':
        _warn_estimated_ncsnr(subject, paths['lh'])
    plan.schema = dict(surface_vertices=(n_vertices['lh'], n_vertices['rh']), coordinate_space='fsaverage')


def _plan_subject(
    root: str,
    subject: int,
    design: NSDDesign,
    sessions: Optional[Sequence[int]],
    space: str,
    version: str,
    rois: Sequence[str],
    ncsnr: str,
    nan_policy: str,
    surface: str,
    surface_roi_dir: Optional[str],
    out_dir: str,
    coordinates: str = 'native',
) -> _SubjectPlan:
    if subject < 1 or subject > design.subject_images.shape[0]:
        raise NSDFormatError(
            f'{expdesign_path(root)}: subjectim has {design.subject_images.shape[0]} rows, no subject {subject}'
        )
    sessions = list(sessions) if sessions is not None else find_sessions(root, subject, space, version)
    plan = _SubjectPlan(
        subject=subject,
        sessions=sessions,
        n_trials=0,
        groups={},
        union=np.empty(0, np.int64),
        read_session=None,
        session_file=None,
        unit_name=None,
        out_path=converted_path(out_dir, subject),
    )
    if space in SURFACE_SPACES:
        _plan_surface(root, plan, rois, space, version, ncsnr, surface, surface_roi_dir)
    else:
        _plan_volume(root, plan, rois, space, version, ncsnr, coordinates)
    if max(sessions) * plan.n_trials > len(design.image_order):
        raise NSDFormatError(
            f'{expdesign_path(root)}: masterordering has {len(design.image_order)} trials, '
            f'but subject {subject} has sessions up to {max(sessions)} of {plan.n_trials} trials'
        )
    if plan.ncsnr is not None:
        bad = ~np.isfinite(plan.ncsnr) | (plan.ncsnr < 0)
        if bad.any():
            raise NSDFormatError(
                f'{plan.ncsnr_file}: {int(bad.sum())} ROI voxels have a negative or non-finite '
                f'ncsnr, first at {plan.unit_name(plan.union[np.argmax(bad)])} (pass --ncsnr estimate '
                'to estimate it from the repetitions instead)'
            )
    if nan_policy == 'drop-voxels':
        _drop_non_finite(plan)
    for g in plan.groups.values():
        g.cols = np.searchsorted(plan.union, g.keys)
    names = ','.join(rois)
    rois_source = (
        osp.join(surface_roi_dir.format(subject=subject), f'{{lh,rh}}.{{{names}}}.mgz')
        if space in SURFACE_SPACES and surface_roi_dir
        else osp.join('nsddata', 'freesurfer', space, 'label', f'{{lh,rh}}.{{{names}}}.mgz')
        if space in SURFACE_SPACES
        else osp.join('nsddata', 'ppdata', subject_tag(subject), space, 'roi', f'{{{names}}}.nii.gz')
    )
    plan.schema.update(betas_version=betas_version_folder(version), rois_source=rois_source)
    return plan


def _drop_non_finite(plan: _SubjectPlan) -> None:
    """Leave out the units with a NaN/inf beta in any session (one extra pass over the sessions)."""
    bad = np.zeros(len(plan.union), bool)
    for session in plan.sessions:
        raw = plan.read_session(session, plan.union)
        if raw.dtype.kind == 'f':
            bad |= ~np.isfinite(raw).all(0)
    if not bad.any():
        return
    get_logger().warning(
        f'subject {plan.subject}: {int(bad.sum())} of {len(plan.union)} voxels have NaN/inf betas in '
        f'at least one session and were left out (--nan-policy drop-voxels)'
    )
    keep_keys = plan.union[~bad]
    for name, g in list(plan.groups.items()):
        keep = np.isin(g.keys, keep_keys)
        if not keep.any():
            raise NSDFormatError(f'subject {plan.subject}: every voxel of ROI {name} has NaN/inf betas')
        g.keys, g.label = g.keys[keep], g.label[keep]
        g.tables = {k: v[keep] for k, v in g.tables.items()}
    if plan.ncsnr is not None:
        plan.ncsnr = plan.ncsnr[~bad]
    plan.union = keep_keys


def convert_nsd(
    nsd_root: str,
    out_dir: str,
    subjects: Optional[Sequence[int]] = None,
    n_sessions: Optional[int] = None,
    space: str = 'func1pt8mm',
    zscore: bool = True,
    average_repeats: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    *,
    sessions: Optional[Sequence[int]] = None,
    betas_version: str = DEFAULT_BETAS,
    rois: Sequence[str] = ROI_GROUPS,
    ncsnr: str = 'auto',
    nan_policy: str = 'error',
    surface: str = 'white',
    surface_roi_dir: Optional[str] = None,
    coordinates: str = 'native',
) -> List[str]:
    """Convert NSD subjects to ``out_dir/subjXX.h5``.

    Args:
        nsd_root: folder holding ``nsddata/``, ``nsddata_betas/`` (and ``nsddata_stimuli/``).
        out_dir: output folder.
        subjects: 1-based subjects; default every ``nsddata_betas/ppdata/subjXX``.
        n_sessions: use sessions 1..n_sessions; default all sessions (a gap in them is an error).
        space: ``func1pt8mm``, ``func1mm`` (volumes) or ``fsaverage`` (NSD's surface betas).
        zscore: z-score each voxel within each session.
        average_repeats: one row per image (mean of its repetitions) instead of one per trial.
        overwrite: replace existing outputs (atomically); without it existing outputs stop the run.
        progress: show progress bars.
        sessions: an explicit list of sessions (instead of ``n_sessions``).
        betas_version: NSD's GLM: ``b1`` / ``betas_assumehrf``, ``b2`` / ``betas_fithrf``, ``b3`` /
            ``betas_fithrf_GLMdenoise_RR`` (default).
        rois: ROI files to convert, one group each (default the paper's six groups; e.g. ``['nsdgeneral']``).
        ncsnr: ``auto`` (NSD's ncsnr file when the betas folder has it, else estimated), ``nsd`` (the file is
            required) or ``estimate``.
        nan_policy: ``error`` (NaN/inf betas stop the conversion) or ``drop-voxels`` (voxels with any NaN/inf
            beta are left out, with a warning).
        surface: fsaverage surface giving vertex coordinates (``space='fsaverage'``).
        surface_roi_dir: folder of subject-specific fsaverage ROI files ``<hemi>.<name>.mgz`` (``{subject}`` is
            replaced by the 1-based subject, e.g. ``rois/subj{subject:02d}``), instead of NSD's fsaverage labels.
        coordinates: frame of ``rois/G/xyz`` in volume spaces: ``native`` (each subject's scanner millimetres
            through the NIfTI affine) or ``mni`` (MNI152 millimetres through NSD's
            ``transforms/MNI-to-<space>.nii.gz``: one frame for all subjects, which share one encoder and its 3D
            voxel embedding, paper Sec. 3.2.2). fsaverage coordinates are already common to all subjects.

    Returns:
        The written file paths.

    Raises:
        NSDOptionError: an invalid option; nothing is written.
        NSDFormatError: bad input (the message names the file and the problem); nothing is written.
        FileExistsError: an output exists and ``overwrite`` is False; nothing is written.
    """
    if space not in SPACES:
        raise NSDOptionError(f'space must be one of {SPACES}, got {space!r}')
    betas_version_folder(betas_version)
    if ncsnr not in NCSNR_MODES:
        raise NSDOptionError(f'ncsnr must be one of {NCSNR_MODES}, got {ncsnr!r}')
    if coordinates not in COORDINATE_FRAMES:
        raise NSDOptionError(f'coordinates must be one of {COORDINATE_FRAMES}, got {coordinates!r}')
    if coordinates == 'mni' and space in SURFACE_SPACES:
        raise NSDOptionError(
            '--coordinates mni is for volume spaces; fsaverage vertex coordinates are already common to all subjects'
        )
    if nan_policy not in NAN_POLICIES:
        raise NSDOptionError(f'nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}')
    rois = list(dict.fromkeys(rois))
    if not rois:
        raise NSDOptionError('rois: give at least one ROI name')
    if surface_roi_dir is not None:
        _check_roi_dir(surface_roi_dir)
    if n_sessions is not None and sessions is not None:
        raise NSDOptionError('give either a number of sessions or a session list, not both')
    if n_sessions is not None:
        if n_sessions < 1:
            raise NSDOptionError(f'--sessions must be positive, got {n_sessions}')
        sessions = list(range(1, n_sessions + 1))
    if sessions is not None:
        sessions = sorted(set(int(s) for s in sessions))
        if not sessions or sessions[0] < 1:
            raise NSDOptionError(f'sessions must be positive 1-based numbers, got {sessions}')
    subjects = [int(s) for s in subjects] if subjects else find_subjects(nsd_root)
    repeated = sorted({s for s in subjects if subjects.count(s) > 1})
    if repeated:
        raise NSDOptionError(f'--subjects: subject {repeated[0]} is given more than once')
    for s in subjects:  # before any work; the writer checks again, atomically, when it publishes
        check_output(converted_path(out_dir, s), overwrite)
    design = read_expdesign(expdesign_path(nsd_root), _n_stimuli(nsd_root))
    plans = [
        _plan_subject(
            nsd_root,
            s,
            design,
            sessions,
            space,
            betas_version,
            rois,
            ncsnr,
            nan_policy,
            surface,
            surface_roi_dir,
            out_dir,
            coordinates,
        )
        for s in subjects
    ]
    for plan in plans:  # the files saved beside each converted file follow the same rule
        for path, data in _sidecars(plan).items():
            if not _holds(path, data):  # the same file, left by an interrupted run, is no conflict
                check_output(path, overwrite)
    # Every subject is converted, synced and verified before anything is published: bad data in any subject
    # (NaN betas in the last session of the last subject) publishes nothing.
    staged: List[Tuple[ConvertedSubjectWriter, List[AtomicOutput]]] = []
    try:
        for plan in plans:
            writer = _convert_subject(plan, design, space, zscore, average_repeats, overwrite, progress)
            staged.append((writer, []))
            for path, data in _sidecars(plan).items():
                if not _holds(path, data):
                    staged[-1][1].append(_stage_file(path, data, overwrite))
        # Per subject the files beside subjXX.h5 first, subjXX.h5 last: a converted file always has its
        # companions, and what a kill in between leaves is identical to what a rerun writes (no conflict then).
        for writer, sidecars in staged:
            for output in sidecars:
                output.publish()
            writer.publish()
    finally:
        for writer, sidecars in staged:
            for output in sidecars:
                output.discard()
            writer.discard()
    return [plan.out_path for plan in plans]


# ----------------------------------------------------------------------------------------------------------------
# Conversion
# ----------------------------------------------------------------------------------------------------------------
def _zscore(x: np.ndarray) -> np.ndarray:
    """Z-score columns in place (constant columns become 0); returns the number of constant columns."""
    mean = x.mean(0)
    sd = x.std(0)
    constant = sd == 0
    x -= mean
    x /= np.where(constant, 1, sd)
    return int(constant.sum())


def _check_finite(plan: _SubjectPlan, session: int, raw: np.ndarray) -> None:
    """Refuse NaN/inf betas, naming the subject, session, file and how many trials and voxels they touch."""
    if raw.dtype.kind != 'f':
        return
    bad = ~np.isfinite(raw)
    if not bad.any():
        return
    t, v = np.argwhere(bad)[0]
    raise NSDFormatError(
        f'{plan.session_file(session)}: subject {plan.subject}, session {session}: {int(bad.sum())} NaN/inf betas '
        f'in {int(bad.any(1).sum())} trials and {int(bad.any(0).sum())} voxels, first at trial {t}, '
        f'{plan.unit_name(plan.union[v])}; pass --nan-policy drop-voxels to leave those voxels out'
    )


def _sidecars(plan: _SubjectPlan) -> Dict[str, bytes]:
    """The files saved beside the converted file and their contents: the anatomy (volume spaces, gzipped NIfTI)
    and the fsaverage meshes (GIFTI). The bytes are a function of the inputs only (no time stamps)."""
    import nibabel as nib

    files = {}
    if plan.anatomy is not None:
        volume, affine, source = plan.anatomy
        img = nib.Nifti1Image(volume.astype(np.float32), affine)
        img.header.set_xyzt_units('mm')
        img.header['descrip'] = source[:79].encode()
        files[anatomy_path(plan.out_path)] = gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)
    for hemi, (coords, faces) in plan.meshes.items():
        img = nib.gifti.GiftiImage(
            darrays=[
                nib.gifti.GiftiDataArray(coords, intent='NIFTI_INTENT_POINTSET', datatype='NIFTI_TYPE_FLOAT32'),
                nib.gifti.GiftiDataArray(faces, intent='NIFTI_INTENT_TRIANGLE', datatype='NIFTI_TYPE_INT32'),
            ]
        )
        files[mesh_path(plan.out_path, hemi)] = img.to_bytes()
    return files


def _holds(path: str, data: bytes) -> bool:
    """Whether ``path`` is a regular file holding exactly ``data``."""
    try:
        if not osp.isfile(path) or osp.islink(path) or osp.getsize(path) != len(data):
            return False
        with open(path, 'rb') as f:
            return f.read() == data
    except OSError:
        return False


def _stage_file(path: str, data: bytes, overwrite: bool) -> AtomicOutput:
    """Write ``data`` to a temporary file beside ``path``, synced and checked, but not yet published."""

    def verify(tmp: str) -> None:
        if not _holds(tmp, data):
            raise OutputError(path, OSError(errno.EIO, 'the written file does not read back as written'))

    output = AtomicOutput(path, overwrite=overwrite, verify=verify)
    try:
        with open(output.open(), 'wb') as f:
            f.write(data)
        output.seal()
    except BaseException as exc:
        output.discard()
        error = storage_error(output.path, exc)
        if error is not None:
            raise error from exc
        raise
    return output


def _convert_subject(
    plan: _SubjectPlan, design: NSDDesign, space: str, zscore: bool, average: bool, overwrite: bool, progress: bool
) -> ConvertedSubjectWriter:
    """Write one subject's converted file, sealed (synced and verified) but not published: the caller publishes
    it (:meth:`ConvertedSubjectWriter.publish`) once every subject is sealed."""
    t_sess = plan.n_trials
    trial_index = np.concatenate([np.arange((s - 1) * t_sess, s * t_sess) for s in plan.sessions])
    total = len(trial_index)
    trial_ids = design.subject_images[plan.subject - 1, design.image_order[trial_index]]
    images, image_of_trial, n_repeats = np.unique(trial_ids, return_inverse=True, return_counts=True)
    image_of_trial = image_of_trial.ravel()
    shared = np.isin(images, design.shared)
    estimate = plan.ncsnr is None
    n_units = len(plan.union)

    # Running per-unit sums for the ncsnr estimate: over all trials, and over the trials of repeated images.
    repeated_trial = n_repeats[image_of_trial] >= 2
    sum_all = np.zeros(n_units)
    sumsq_all = np.zeros(n_units)
    sumsq_rep = np.zeros(n_units)
    n_constant = 0
    ncsnr_source = 'nsd' if not estimate else ('estimated' if (n_repeats >= 2).any() else None)
    n_rows = len(images) if average else total
    with ConvertedSubjectWriter(
        plan.out_path,
        plan.subject,
        space,
        'session' if zscore else 'none',
        average,
        overwrite,
        ncsnr_source=ncsnr_source,
        defer=True,
        reserve_bytes=ConvertedSubjectWriter.expected_bytes(n_rows, [len(g.keys) for g in plan.groups.values()]),
        **plan.schema,
    ) as writer:
        if average:
            writer.write_rows(images, np.zeros(len(images)), shared, n_repeats)
        else:
            writer.write_rows(
                trial_ids, np.repeat(plan.sessions, t_sess), np.isin(trial_ids, design.shared), np.ones(total)
            )
        betas = {
            name: writer.create_group(name, n_rows, g.label, g.label_names, **g.tables)
            for name, g in plan.groups.items()
        }

        for index, session in enumerate(
            progress_bar(plan.sessions, progress, desc=subject_tag(plan.subject), unit='session')
        ):
            raw = plan.read_session(session, plan.union)
            _check_finite(plan, session, raw)
            x = raw.astype(np.float32) / np.float32(plan.beta_scale)
            del raw
            if zscore:
                n_constant += _zscore(x)
            t0 = index * t_sess
            rows = image_of_trial[t0 : t0 + t_sess]
            if estimate:
                x64 = x.astype(np.float64)
                sum_all += x64.sum(0)
                sumsq_all += (x64**2).sum(0)
                sumsq_rep += (x64[repeated_trial[t0 : t0 + t_sess]] ** 2).sum(0)
                del x64
            if average:
                order = np.argsort(rows, kind='stable')
                uniq, starts = np.unique(rows[order], return_index=True)
                sums = np.add.reduceat(x[order], starts, axis=0)
                for name, ds_out in betas.items():
                    ds_out[uniq] = ds_out[uniq] + sums[:, plan.groups[name].cols]
            else:
                for name, ds_out in betas.items():
                    ds_out[t0 : t0 + t_sess] = x[:, plan.groups[name].cols]

        # Final pass: means of the repetitions (when averaging) and the ncsnr (NSD's, or estimated).
        rep_images = np.flatnonzero(n_repeats >= 2)
        for name, ds_out in betas.items():
            cols = plan.groups[name].cols
            between = np.zeros(len(cols))  # sum over repeated images of (sum of repetitions)^2 / n
            if average:
                for a in range(0, n_rows, _ROW_BLOCK):
                    block = ds_out[a : a + _ROW_BLOCK].astype(np.float64)
                    n = n_repeats[a : a + _ROW_BLOCK, None]
                    between += ((block**2) / n)[n[:, 0] >= 2].sum(0)
                    ds_out[a : a + _ROW_BLOCK] = (block / n).astype(np.float32)
            elif estimate:
                between = _between_sums(ds_out, image_of_trial, n_repeats, rep_images, len(images), len(cols))
            if not estimate:
                writer.write_ncsnr(name, plan.ncsnr[cols])
            elif len(rep_images):
                dof = float((n_repeats[rep_images] - 1).sum())
                var_noise = np.maximum(sumsq_rep[cols] - between, 0) / dof
                var_total = np.maximum(sumsq_all[cols] - sum_all[cols] ** 2 / total, 0) / (total - 1)
                writer.write_ncsnr(name, ncsnr_from_variances(var_total, var_noise))
    if n_constant:
        get_logger().warning(
            f'subject {plan.subject}: {n_constant} voxel-sessions had constant betas (e.g. outside '
            f'the brain mask); their z-scores were set to 0'
        )
    return writer


def _between_sums(
    ds_out, image_of_trial: np.ndarray, n_repeats: np.ndarray, rep_images: np.ndarray, n_images: int, n_cols: int
) -> np.ndarray:
    """Sum over repeated images of (sum of its repetitions)^2 / n, read from the written single-trial rows."""
    between = np.zeros(n_cols)
    trial_order = np.argsort(image_of_trial, kind='stable')
    trial_starts = np.searchsorted(image_of_trial[trial_order], np.arange(n_images + 1))
    for a in range(0, len(rep_images), _IMAGE_BLOCK):
        block_images = rep_images[a : a + _IMAGE_BLOCK]
        members = [trial_order[trial_starts[m] : trial_starts[m + 1]] for m in block_images]
        trials = np.concatenate(members)
        sort = np.argsort(trials)
        data = np.empty((len(trials), n_cols))
        data[sort] = ds_out[trials[sort]]
        bounds = np.cumsum([0] + [len(m) for m in members])[:-1]
        sums = np.add.reduceat(data, bounds, axis=0)
        between += (sums**2 / n_repeats[block_images, None]).sum(0)
    return between

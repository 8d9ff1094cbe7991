# Copyright (c) mmbrain contributors. All rights reserved.
"""Readers of the Natural Scenes Dataset's native files, with the checks a converter needs.

The facts (see ``docs/data.md`` and the NSD Data Manual):

* betas of a volume space (``func1pt8mm``, ``func1mm``): ``nsddata_betas/ppdata/subjXX/<space>/<version>/
  betas_sessionNN.hdf5``, dataset ``/betas``; MATLAB wrote X x Y x Z x trials, so h5py sees ``(trials, Z, Y, X)``
  and ``h5[t, k, j, i] == nifti[i, j, k, t]``; int16, percent signal change x 300. ``<version>`` is one of NSD's
  three GLMs (:data:`BETAS_VERSIONS`); the folder also holds NSD's ``ncsnr.nii.gz`` and ``meanbeta.nii.gz``;
* betas on the fsaverage surface: ``nsddata_betas/ppdata/subjXX/fsaverage/<version>/{lh,rh}.betas_sessionNN.mgh``
  (vertices x 1 x 1 x trials, read with nibabel) and ``{lh,rh}.ncsnr.mgh``;
* ROI volumes ``nsddata/ppdata/subjXX/<space>/roi/<name>.nii.gz`` on the betas' (X, Y, Z) grid: -1 = not cortex,
  0 = unlabeled cortex, 1..N = labels, whose names are in ``nsddata/freesurfer/subjXX/label/<name>.mgz.ctab``;
  fsaverage labels ``nsddata/freesurfer/fsaverage/label/{lh,rh}.<name>.mgz`` with ``<name>.mgz.ctab`` beside them;
* the subject's anatomy resampled to a volume space: ``nsddata/ppdata/subjXX/<space>/T1_to_<space>.nii.gz``;
* nsdcode's transforms ``nsddata/ppdata/subjXX/transforms/<source>-to-<target>.nii.gz``: on the target grid, the
  1-based source voxel coordinates of each voxel (``MNI-to-func1pt8.nii.gz``: each func1pt8mm voxel's MNI position);
* ``nsd_expdesign.mat``: ``masterordering`` (1, trials), ``subjectim`` (subjects, images), ``sharedix``
  (1, shared), all 1-based;
* ``nsd_stimuli.hdf5``: ``imgBrick`` (images, H, W, 3) uint8, row = 0-based nsd_id;
* ``nsd_stim_info_merged.csv``: one row per stimulus, ``nsdId`` (0-based), ``cocoId``, ``cocoSplit``,
  ``shared1000``, ...;
* FreeSurfer surfaces ``nsddata/freesurfer/fsaverage/surf/<hemi>.<surface>`` (vertex coordinates, triangles).

Every reader raises :class:`NSDFormatError` naming the file and the problem.
"""

import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .converted_file import subject_tag

#: The six ROI groups Brainformer uses (paper Sec. 3.1), in the order of the converted files.
ROI_GROUPS: Tuple[str, ...] = ('prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams')

#: NSD's label names of each ROI volume (index = label value; 0 is unlabeled cortex).
ROI_LABEL_NAMES: Dict[str, Tuple[str, ...]] = {
    'prf-visualrois': ('Unknown', 'V1v', 'V1d', 'V2v', 'V2d', 'V3v', 'V3d', 'hV4'),
    'floc-bodies': ('Unknown', 'EBA', 'FBA-1', 'FBA-2', 'mTL-bodies'),
    'floc-faces': ('Unknown', 'OFA', 'FFA-1', 'FFA-2', 'mTL-faces', 'aTL-faces'),
    'floc-places': ('Unknown', 'OPA', 'PPA', 'RSC'),
    'floc-words': ('Unknown', 'OWFA', 'VWFA-1', 'VWFA-2', 'mfs-words', 'mTL-words'),
    'streams': ('Unknown', 'early', 'midventral', 'midlateral', 'midparietal', 'ventral', 'lateral', 'parietal'),
    'nsdgeneral': ('Unknown', 'nsdgeneral'),
}

#: Percent signal change is stored x300 in NSD's int16 betas.
BETA_SCALE = 300.0

VOLUME_SPACES = ('func1pt8mm', 'func1mm')
SURFACE_SPACES = ('fsaverage',)
SPACES = VOLUME_SPACES + SURFACE_SPACES
HEMIS = ('lh', 'rh')

#: NSD's three single-trial GLMs (Allen et al. 2022): short name -> betas folder.
BETAS_VERSIONS: Dict[str, str] = {'b1': 'betas_assumehrf', 'b2': 'betas_fithrf', 'b3': 'betas_fithrf_GLMdenoise_RR'}
DEFAULT_BETAS = BETAS_VERSIONS['b3']


class NSDFormatError(ValueError):
    """An NSD input file is missing or not what NSD distributes; the message names the file."""


class NSDOptionError(ValueError):
    """A conversion option is invalid (a usage error, not a data error)."""


def betas_version_folder(version: str) -> str:
    """NSD's betas folder of a version given as ``b1``/``b2``/``b3`` or by its folder name."""
    if version in BETAS_VERSIONS:
        return BETAS_VERSIONS[version]
    if version in BETAS_VERSIONS.values():
        return version
    choices = ', '.join(f'{k} ({v})' for k, v in BETAS_VERSIONS.items())
    raise NSDOptionError(f'unknown betas version {version!r}; NSD has {choices}')


# ----------------------------------------------------------------------------------------------------------------
# Paths of the native layout
# ----------------------------------------------------------------------------------------------------------------
def expdesign_path(root: str) -> str:
    return osp.join(root, 'nsddata', 'experiments', 'nsd', 'nsd_expdesign.mat')


def stim_info_path(root: str) -> str:
    return osp.join(root, 'nsddata', 'experiments', 'nsd', 'nsd_stim_info_merged.csv')


def stimuli_path(root: str) -> str:
    return osp.join(root, 'nsddata_stimuli', 'stimuli', 'nsd', 'nsd_stimuli.hdf5')


def roi_path(root: str, subject: int, name: str, space: str = 'func1pt8mm', hemi: Optional[str] = None) -> str:
    """A subject's ROI volume (``hemi`` None: both hemispheres) or, for ``space='fsaverage'``, the fsaverage
    label file ``nsddata/freesurfer/fsaverage/label/<hemi>.<name>.mgz`` (the same for every subject)."""
    prefix = f'{hemi}.' if hemi else ''
    if space in SURFACE_SPACES:
        return osp.join(root, 'nsddata', 'freesurfer', space, 'label', f'{prefix}{name}.mgz')
    return osp.join(root, 'nsddata', 'ppdata', subject_tag(subject), space, 'roi', f'{prefix}{name}.nii.gz')


def ctab_path(root: str, subject: int, name: str, space: str = 'func1pt8mm') -> str:
    """Label names of an ROI: the subject's ``label/<name>.mgz.ctab`` (fsaverage's for ``space='fsaverage'``)."""
    owner = space if space in SURFACE_SPACES else subject_tag(subject)
    return osp.join(root, 'nsddata', 'freesurfer', owner, 'label', f'{name}.mgz.ctab')


def fsaverage_surface_path(root: str, hemi: str, surface: str = 'white') -> str:
    """A FreeSurfer surface of fsaverage, ``nsddata/freesurfer/fsaverage/surf/<hemi>.<surface>``."""
    return osp.join(root, 'nsddata', 'freesurfer', 'fsaverage', 'surf', f'{hemi}.{surface}')


def t1_path(root: str, subject: int, space: str = 'func1pt8mm') -> str:
    """The subject's T1 resampled to a volume space (``T1_to_func1pt8mm.nii.gz``)."""
    return osp.join(root, 'nsddata', 'ppdata', subject_tag(subject), space, f'T1_to_{space}.nii.gz')


#: nsdcode's names of the volume spaces (its transform files are ``<source>-to-<target>.nii.gz``).
NSDCODE_SPACE_NAMES: Dict[str, str] = {'func1pt8mm': 'func1pt8', 'func1mm': 'func1pt0'}


def mni_transform_path(root: str, subject: int, space: str = 'func1pt8mm') -> str:
    """NSD's transform that gives each voxel of a volume space its MNI position:
    ``nsddata/ppdata/subjXX/transforms/MNI-to-func1pt8.nii.gz`` (nsdcode's ``MNI`` -> ``func1pt8`` map)."""
    name = f'MNI-to-{NSDCODE_SPACE_NAMES[space]}.nii.gz'
    return osp.join(root, 'nsddata', 'ppdata', subject_tag(subject), 'transforms', name)


def betas_dir(root: str, subject: int, space: str = 'func1pt8mm', version: str = DEFAULT_BETAS) -> str:
    return osp.join(root, 'nsddata_betas', 'ppdata', subject_tag(subject), space, betas_version_folder(version))


def betas_path(
    root: str,
    subject: int,
    session: int,
    space: str = 'func1pt8mm',
    version: str = DEFAULT_BETAS,
    hemi: Optional[str] = None,
) -> str:
    """A session's betas: ``betas_sessionNN.hdf5`` (volume spaces) or ``<hemi>.betas_sessionNN.mgh`` (fsaverage)."""
    if space in SURFACE_SPACES:
        if hemi not in HEMIS:
            raise ValueError(f'surface betas need hemi in {HEMIS}, got {hemi!r}')
        return osp.join(betas_dir(root, subject, space, version), f'{hemi}.betas_session{session:02d}.mgh')
    return osp.join(betas_dir(root, subject, space, version), f'betas_session{session:02d}.hdf5')


def ncsnr_path(
    root: str, subject: int, space: str = 'func1pt8mm', version: str = DEFAULT_BETAS, hemi: Optional[str] = None
) -> str:
    """NSD's noise-ceiling SNR of a betas version: ``ncsnr.nii.gz`` (volumes) or ``<hemi>.ncsnr.mgh`` (fsaverage)."""
    name = f'{hemi}.ncsnr.mgh' if space in SURFACE_SPACES else 'ncsnr.nii.gz'
    return osp.join(betas_dir(root, subject, space, version), name)


def meanbeta_path(root: str, subject: int, space: str = 'func1pt8mm', version: str = DEFAULT_BETAS) -> str:
    """NSD's mean beta over all trials of a betas version (volume spaces)."""
    return osp.join(betas_dir(root, subject, space, version), 'meanbeta.nii.gz')


def find_subjects(root: str) -> List[int]:
    """Subjects that have a betas folder under ``nsddata_betas/ppdata``."""
    base = osp.join(root, 'nsddata_betas', 'ppdata')
    if not osp.isdir(base):
        raise NSDFormatError(f'{base}: folder not found (is --nsd-root the folder that holds nsddata_betas/?)')
    subjects = sorted(int(m.group(1)) for m in (re.fullmatch(r'subj(\d\d)', d) for d in os.listdir(base)) if m)
    if not subjects:
        raise NSDFormatError(f'{base}: no subjXX folders')
    return subjects


def find_sessions(root: str, subject: int, space: str = 'func1pt8mm', version: str = DEFAULT_BETAS) -> List[int]:
    """Sessions 1..N of a subject, N the highest session file present; a gap is an error.

    A gap (sessions 1 and 3 present, 2 missing) is usually an interrupted download: converting "the sessions
    found" would silently drop every session after it, so the missing file is named instead (pass an explicit
    session list to convert a subset on purpose).
    """
    folder = betas_dir(root, subject, space, version)
    pattern = r'(lh)\.betas_session(\d+)\.mgh' if space in SURFACE_SPACES else r'()betas_session(\d+)\.hdf5'
    found = sorted(
        int(m.group(2))
        for m in (re.fullmatch(pattern, f) for f in (os.listdir(folder) if osp.isdir(folder) else []))
        if m
    )
    first = betas_path(root, subject, 1, space, version, hemi='lh' if space in SURFACE_SPACES else None)
    if not found:
        raise NSDFormatError(f'{first}: file not found (no betas for subject {subject} in {folder})')
    missing = sorted(set(range(1, found[-1] + 1)) - set(found))
    if missing:
        path = betas_path(root, subject, missing[0], space, version, hemi='lh' if space in SURFACE_SPACES else None)
        raise NSDFormatError(
            f'{path}: file not found, but later sessions are present (sessions {missing} of 1..'
            f'{found[-1]} missing: an incomplete download?); pass --sessions to convert a subset'
        )
    return list(range(1, found[-1] + 1))


def require_file(path: str) -> str:
    if not osp.isfile(path):
        raise NSDFormatError(f'{path}: file not found')
    return path


# ----------------------------------------------------------------------------------------------------------------
# Experiment design
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NSDDesign:
    """NSD's experimental design, converted to 0-based indices once and for all.

    Attributes:
        image_order: (trials,) 0-based index into a subject's image list for each global trial
            (``masterordering - 1``); trial ``t`` belongs to session ``t // trials_per_session + 1``.
        subject_images: (subjects, images) 0-based nsd_id of each subject's images (``subjectim - 1``).
        shared: (n_shared,) sorted 0-based nsd_ids of the images every subject saw (``sharedix - 1``).
    """

    image_order: np.ndarray
    subject_images: np.ndarray
    shared: np.ndarray

    def trial_nsd_ids(self, subject: int, start: int, stop: int) -> np.ndarray:
        """0-based nsd_ids of global trials ``[start, stop)`` of a 1-based subject."""
        return self.subject_images[subject - 1, self.image_order[start:stop]]


def _int_matrix(mat: dict, key: str, path: str) -> np.ndarray:
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise NSDFormatError(f'{path}: variable {key!r} missing (found {found})')
    arr = np.asarray(mat[key])
    if arr.ndim != 2 or arr.size == 0:
        raise NSDFormatError(f'{path}: {key!r} has shape {arr.shape}, expected a non-empty 2-D matrix')
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise NSDFormatError(f'{path}: {key!r} must hold finite integers (dtype {arr.dtype})')
    return arr.astype(np.int64)


def read_expdesign(path: str, n_stimuli: Optional[int] = None) -> NSDDesign:
    """Read and validate ``nsd_expdesign.mat`` (1-based MATLAB indices, returned 0-based).

    Args:
        path: the ``.mat`` file.
        n_stimuli: number of rows of ``imgBrick`` when known; nsd_ids must be below it.
    """
    from scipy.io import loadmat

    require_file(path)
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for corrupt files
        raise NSDFormatError(f'{path}: not a readable MATLAB file ({exc})') from exc
    order = _int_matrix(mat, 'masterordering', path)
    subjectim = _int_matrix(mat, 'subjectim', path)
    sharedix = _int_matrix(mat, 'sharedix', path)
    if order.shape[0] != 1:
        raise NSDFormatError(f'{path}: masterordering has shape {order.shape}, expected (1, trials)')
    if sharedix.shape[0] != 1:
        raise NSDFormatError(f'{path}: sharedix has shape {sharedix.shape}, expected (1, shared images)')
    n_images = subjectim.shape[1]
    if order.min() < 1 or order.max() > n_images:
        raise NSDFormatError(
            f'{path}: masterordering values must be 1-based indices in 1..{n_images} '
            f'(subjectim columns), found {order.min()}..{order.max()}'
        )
    limit = n_stimuli if n_stimuli is not None else np.iinfo(np.int32).max
    for name, arr in (('subjectim', subjectim), ('sharedix', sharedix)):
        if arr.min() < 1 or arr.max() > limit:
            raise NSDFormatError(
                f'{path}: {name} values must be 1-based nsd indices in 1..{limit}, found {arr.min()}..{arr.max()}'
            )
    return NSDDesign(image_order=order[0] - 1, subject_images=subjectim - 1, shared=np.sort(sharedix[0] - 1))


@dataclass(frozen=True)
class StimInfo:
    """``nsd_stim_info_merged.csv``, checked: one entry per NSD stimulus, in the file's row order.

    Attributes:
        path: the file.
        nsd_id: (stimuli,) int64 0-based ``nsdId`` (unique).
        coco_id: (stimuli,) int64 ``cocoId``: the COCO image each stimulus is, None without the column.
        coco_split: (stimuli,) ``cocoSplit`` (``train2017`` / ``val2017``), None without the column.
        shared1000: (stimuli,) bool, None without the column.
    """

    path: str
    nsd_id: np.ndarray
    coco_id: Optional[np.ndarray]
    coco_split: Optional[np.ndarray]
    shared1000: Optional[np.ndarray]

    def coco_splits(self) -> Dict[str, int]:
        """How many stimuli come from each COCO split (empty without ``cocoSplit``)."""
        if self.coco_split is None:
            return {}
        names, counts = np.unique(self.coco_split.astype(str), return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}


def _cell(value: object) -> str:
    """A CSV cell for a message: ``empty`` for a missing value, else its Python repr."""
    if isinstance(value, np.generic):
        value = value.item()
    return 'empty' if isinstance(value, float) and np.isnan(value) else repr(value)


def _integer_column(table, column: str, path: str) -> np.ndarray:
    """A column of whole numbers as int64; an empty, NaN or fractional cell is an error naming its row."""
    import pandas as pd

    values = pd.to_numeric(table[column], errors='coerce')
    bad = values.isna() | (values != values.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise NSDFormatError(
            f'{path}: {column} of data row {row + 1} is {_cell(table[column].iloc[row])}, expected an integer '
            f'({int(bad.sum())} such rows)'
        )
    return values.to_numpy().astype(np.int64)


def read_stim_info(path: str, columns: Sequence[str] = ()) -> StimInfo:
    """Read and check NSD's ``nsd_stim_info_merged.csv`` (the one reader: captions, Algonauts, COCO exclusion).

    Args:
        path: the file.
        columns: the columns the caller needs besides ``nsdId`` (``cocoId``, ``cocoSplit``, ``shared1000``).

    Raises:
        NSDFormatError: the file is missing or not a CSV, a needed column is absent, ``nsdId`` / ``cocoId`` hold
            an empty or non-integer cell, ``nsdId`` repeats or is negative, or ``shared1000`` is not 0/1.
    """
    import pandas as pd

    require_file(path)
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # pandas raises several types for unreadable files
        raise NSDFormatError(f'{path}: not a readable CSV file ({exc})') from exc
    missing = [c for c in dict.fromkeys(('nsdId', *columns)) if c not in table.columns]
    if missing:
        raise NSDFormatError(
            f'{path}: no column(s) {missing} (columns: {list(table.columns)[:12]}); '
            "expected NSD's nsd_stim_info_merged.csv"
        )
    nsd_id = _integer_column(table, 'nsdId', path)
    coco_id = _integer_column(table, 'cocoId', path) if 'cocoId' in table.columns else None
    if nsd_id.size and nsd_id.min() < 0:
        raise NSDFormatError(f'{path}: nsdId must be 0-based, found {nsd_id.min()}')
    unique, counts = np.unique(nsd_id, return_counts=True)
    if (counts > 1).any():
        raise NSDFormatError(f'{path}: nsdId {unique[counts > 1][0]} appears {counts.max()} times')
    shared = None
    if 'shared1000' in table.columns:
        flags = table['shared1000'].map(lambda v: {'true': 1, 'false': 0}.get(str(v).strip().lower(), v))
        flags = pd.to_numeric(flags, errors='coerce')
        if not flags.isin([0, 1]).all():
            row = int(np.flatnonzero(~flags.isin([0, 1]).to_numpy())[0])
            raise NSDFormatError(
                f'{path}: shared1000 of data row {row + 1} is {_cell(table["shared1000"].iloc[row])}, expected 0/1'
            )
        shared = flags.to_numpy().astype(bool)
    split = table['cocoSplit'].astype(str).to_numpy() if 'cocoSplit' in table.columns else None
    return StimInfo(path=path, nsd_id=nsd_id, coco_id=coco_id, coco_split=split, shared1000=shared)


# ----------------------------------------------------------------------------------------------------------------
# ROI volumes and label tables
# ----------------------------------------------------------------------------------------------------------------
def read_ctab(path: str) -> Dict[int, str]:
    """Read a FreeSurfer colour table (``index name [r g b a]`` per line) into ``{index: name}``."""
    require_file(path)
    names: Dict[int, str] = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) < 2 or not parts[0].lstrip('-').isdigit():
                raise NSDFormatError(f'{path}:{lineno}: expected "index name", got {line!r}')
            names[int(parts[0])] = parts[1]
    if not names:
        raise NSDFormatError(f'{path}: empty label table')
    return names


def label_name_list(names: Dict[int, str], n_labels: int) -> List[str]:
    """Names indexed by label value 0..n_labels (missing entries named ``label<i>``)."""
    return [names.get(i, 'Unknown' if i == 0 else f'label{i}') for i in range(n_labels + 1)]


@dataclass(frozen=True)
class ROIVolume:
    """One ROI volume: integer labels on the (X, Y, Z) grid and its voxel-to-mm affine."""

    labels: np.ndarray
    affine: np.ndarray
    path: str


def read_roi_volume(path: str) -> ROIVolume:
    """Read an ROI ``.nii.gz`` and check it holds integer labels -1, 0, 1..N on a 3-D grid."""
    img = _load_image(path, 'NIfTI')
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise NSDFormatError(f'{path}: not a readable NIfTI file ({exc})') from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise NSDFormatError(f'{path}: ROI volume has shape {data.shape}, expected 3-D (X, Y, Z)')
    return ROIVolume(labels=_integer_labels(data, path), affine=np.asarray(img.affine, dtype=np.float64), path=path)


def read_label_names(path: str, labels: np.ndarray, name: str) -> List[str]:
    """Names of the labels used in an ROI file, from its ``<name>.mgz.ctab``, indexed by label value.

    A mask (only label 1, like ``nsdgeneral``) needs no table: without one its label is named after the file.

    Args:
        path: the ``.mgz.ctab`` file.
        labels: the ROI file's label values (any shape).
        name: the ROI name (label 1 of a mask without a table).
    """
    used = sorted(set(np.unique(labels[labels > 0]).tolist()))
    if not osp.isfile(path) and used == [1]:
        return ['Unknown', name]
    table = read_ctab(path)
    missing = sorted(set(used) - set(table))
    if missing:
        raise NSDFormatError(f'{path}: no name for labels {missing} used in the {name} ROI file')
    return label_name_list(table, max(used))


def _integer_labels(data: np.ndarray, path: str) -> np.ndarray:
    """Check that an ROI array holds integer labels -1, 0, 1..127 and return it as int16."""
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)):
            raise NSDFormatError(f'{path}: ROI file contains NaN or inf')
        if np.any(data != np.round(data)):
            raise NSDFormatError(f'{path}: ROI file has non-integer values (expected labels -1, 0, 1..N)')
    elif not np.issubdtype(data.dtype, np.integer):
        raise NSDFormatError(f'{path}: ROI file has dtype {data.dtype}, expected integer labels')
    labels = data.astype(np.int64)
    if labels.size and (labels.min() < -1 or labels.max() > 127):
        raise NSDFormatError(
            f'{path}: ROI labels must lie in -1..127 (mmbrain stores them as int8), found '
            f'{labels.min()}..{labels.max()}'
        )
    return labels.astype(np.int16)


def _load_image(path: str, kind: str):
    import nibabel as nib

    require_file(path)
    try:
        return nib.load(path)
    except Exception as exc:
        raise NSDFormatError(f'{path}: not a readable {kind} file ({exc})') from exc


def read_surface_map(path: str, n_vertices: Optional[int] = None, what: str = 'values') -> np.ndarray:
    """One value per vertex from a FreeSurfer ``.mgh``/``.mgz`` overlay (shape (V,), (V, 1, 1) or (V, 1, 1, 1)).

    Args:
        path: the overlay.
        n_vertices: the hemisphere's vertex count when known (that of the betas); a mismatch is an error.
        what: what the file holds, for messages.
    """
    img = _load_image(path, 'MGH')
    data = np.asanyarray(img.dataobj)
    if data.ndim < 1 or any(n != 1 for n in data.shape[1:]):
        raise NSDFormatError(f'{path}: {what} file has shape {data.shape}, expected one value per vertex (V, 1, 1)')
    data = data.reshape(-1)
    if n_vertices is not None and data.size != n_vertices:
        raise NSDFormatError(f'{path}: {data.size} vertices, but the betas have {n_vertices}')
    return data


def read_surface_geometry(
    path: str, n_vertices: Optional[int] = None, source: str = 'the betas'
) -> Tuple[np.ndarray, np.ndarray]:
    """Vertex coordinates (float32 (V, 3), millimetres) and triangles (int32 (F, 3)) of a FreeSurfer surface.

    Args:
        path: e.g. ``nsddata/freesurfer/fsaverage/surf/lh.white``.
        n_vertices: the vertex count the surface must have, when known.
        source: what has ``n_vertices`` vertices, for the message.
    """
    import nibabel as nib

    require_file(path)
    try:
        coords, faces = nib.freesurfer.read_geometry(path)
    except Exception as exc:
        raise NSDFormatError(f'{path}: not a readable FreeSurfer surface ({exc})') from exc
    if n_vertices is not None and len(coords) != n_vertices:
        raise NSDFormatError(f'{path}: {len(coords)} vertices, but {source} has {n_vertices}')
    return coords.astype(np.float32), faces.astype(np.int32)


def read_surface_labels(path: str, n_vertices: Optional[int] = None) -> np.ndarray:
    """An fsaverage ROI label file ``<hemi>.<name>.mgz``: int16 (V,) labels -1 / 0 / 1..N."""
    return _integer_labels(read_surface_map(path, n_vertices, 'ROI'), path)


def read_volume_map(path: str, grid_xyz: Sequence[int], affine: np.ndarray, what: str) -> np.ndarray:
    """A 3-D map (e.g. ``ncsnr.nii.gz``) that must lie on the ROI grid with the ROI affine; float64 (X, Y, Z)."""
    img = _load_image(path, 'NIfTI')
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if tuple(data.shape) != tuple(int(n) for n in grid_xyz):
        raise NSDFormatError(
            f'{path}: {what} grid {tuple(data.shape)} does not match the ROI grid {tuple(int(n) for n in grid_xyz)}'
        )
    if not np.allclose(img.affine, affine, atol=1e-4):
        raise NSDFormatError(f'{path}: affine differs from that of the ROI volumes (another subject or space?)')
    return np.asarray(data, dtype=np.float64)


#: nsdcode's MNI space: 1-based voxel coordinates of the 1 mm MNI152 grid (182 x 218 x 182, stored RPI) ->
#: MNI millimetres; the origin (0, 0, 0) is voxel (91, 127, 73), the first axis runs from right to left.
MNI_VOXEL_TO_MM = np.array([[-1.0, 0, 0, 91], [0, 1, 0, -127], [0, 0, 1, -73], [0, 0, 0, 1]])
#: nsdcode's value for "no position" in a transform file.
TRANSFORM_INVALID = 9999


def read_mni_coordinates(path: str, grid_xyz: Sequence[int], ijk: np.ndarray) -> np.ndarray:
    """MNI millimetres of voxels ``ijk`` of a volume space, from NSD's ``MNI-to-<space>.nii.gz``.

    The file (nsdcode's volume-to-volume transform, read with nibabel) lies on the subject's grid, (X, Y, Z, 3):
    for each voxel, the 1-based, fractional MNI voxel coordinates where it lies, ``9999`` where it has none.

    Args:
        path: the transform file.
        grid_xyz: (X, Y, Z) of the ROI volumes.
        ijk: (V, 3) voxel indices.

    Returns:
        float32 (V, 3) MNI coordinates in mm (:data:`MNI_VOXEL_TO_MM`).

    Raises:
        NSDFormatError: the file is missing, not on the ROI grid, or has no position for one of the voxels.
    """
    img = _load_image(path, 'NIfTI')
    expected = tuple(int(n) for n in grid_xyz) + (3,)
    if tuple(img.shape) != expected:
        raise NSDFormatError(
            f'{path}: transform has shape {tuple(img.shape)}, expected {expected} (the ROI grid, 3 coordinates)'
        )
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise NSDFormatError(f'{path}: not a readable NIfTI file ({exc})') from exc
    ijk = np.asarray(ijk, dtype=np.int64)
    coords = np.asarray(data[ijk[:, 0], ijk[:, 1], ijk[:, 2]], dtype=np.float64)
    bad = ~np.isfinite(coords).all(1) | (coords == TRANSFORM_INVALID).any(1)
    if bad.any():
        raise NSDFormatError(
            f'{path}: no MNI position ({TRANSFORM_INVALID} or NaN) for {int(bad.sum())} ROI voxels, first at '
            f'(i, j, k) = {tuple(int(c) for c in ijk[np.argmax(bad)])}'
        )
    return voxel_coordinates(coords, MNI_VOXEL_TO_MM)


def voxel_coordinates(ijk: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Millimetre coordinates of voxel indices ``(i, j, k)`` through a NIfTI affine."""
    return (ijk.astype(np.float64) @ affine[:3, :3].T + affine[:3, 3]).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Betas
# ----------------------------------------------------------------------------------------------------------------
BETA_DTYPES = (np.int16, np.float32, np.float64)


def open_betas(path: str, grid_xyz: Sequence[int], n_trials: Optional[int] = None, roi_path_hint: str = ''):
    """Open ``betas_sessionNN.hdf5`` and check its ``/betas`` dataset against the ROI grid.

    Args:
        path: the session file.
        grid_xyz: (X, Y, Z) of the ROI volumes; h5py must see ``(trials, Z, Y, X)``.
        n_trials: expected number of trials (that of the first session) when known.
        roi_path_hint: an ROI file named in the grid-mismatch message.

    Returns:
        (h5py.File, h5py.Dataset); the caller closes the file.
    """
    import h5py

    require_file(path)
    try:
        f = h5py.File(path, 'r')
    except Exception as exc:
        raise NSDFormatError(f'{path}: not a readable HDF5 file ({exc})') from exc
    try:
        if 'betas' not in f:
            raise NSDFormatError(f'{path}: dataset "betas" missing (found {list(f.keys())})')
        ds = f['betas']
        if ds.ndim != 4:
            raise NSDFormatError(f'{path}: "betas" has shape {ds.shape}, expected 4-D (trials, Z, Y, X)')
        if ds.dtype not in BETA_DTYPES:
            raise NSDFormatError(f'{path}: "betas" has dtype {ds.dtype}, expected int16 (NSD) or float32/float64')
        x, y, z = (int(v) for v in grid_xyz)
        if tuple(ds.shape[1:]) != (z, y, x):
            raise NSDFormatError(
                f'{path}: betas grid (Z, Y, X) = {tuple(ds.shape[1:])} does not match the ROI grid '
                f'(X, Y, Z) = {(x, y, z)} of {roi_path_hint or "the ROI volumes"}; h5py must see (trials, Z, Y, X) '
                f'= (trials, {z}, {y}, {x})'
            )
        if n_trials is not None and ds.shape[0] != n_trials:
            raise NSDFormatError(f'{path}: {ds.shape[0]} trials, but the first session has {n_trials}')
        if ds.shape[0] == 0:
            raise NSDFormatError(f'{path}: "betas" holds no trials')
    except BaseException:
        f.close()
        raise
    return f, ds


def _read_planes(ds, k0: int, k1: int) -> np.ndarray:
    """``ds[:, k0:k1]``; a damaged file (e.g. a corrupted chunk index) is an NSDFormatError naming it."""
    try:
        return ds[:, k0:k1]
    except OSError as exc:
        raise NSDFormatError(
            f'{ds.file.filename}: cannot read {ds.name} planes {k0}..{k1 - 1}: the file is damaged '
            f'({exc}); download it again'
        ) from exc


def read_voxels(ds, voxels_kji: np.ndarray, slab: int = 8) -> np.ndarray:
    """Read all trials of a set of voxels from a ``(trials, Z, Y, X)`` dataset, a few z-planes at a time.

    Memory stays at one slab of ``slab`` planes, whatever the session size; chunked (per-voxel) and contiguous
    files are both read with full-plane hyperslabs.

    Args:
        ds: the h5py ``betas`` dataset.
        voxels_kji: (V, 3) int array of (k, j, i) indices.
        slab: planes read at once.

    Returns:
        (trials, V) array in the dataset's dtype, column v = voxel ``voxels_kji[v]``.
    """
    out = np.empty((ds.shape[0], len(voxels_kji)), dtype=ds.dtype)
    k = voxels_kji[:, 0]
    for k0 in range(int(k.min()) if len(k) else 0, int(k.max()) + 1 if len(k) else 0, slab):
        sel = np.flatnonzero((k >= k0) & (k < k0 + slab))
        if len(sel) == 0:
            continue
        k1 = min(k0 + slab, int(k[sel].max()) + 1)
        block = _read_planes(ds, k0, k1)
        v = voxels_kji[sel]
        out[:, sel] = block[:, v[:, 0] - k0, v[:, 1], v[:, 2]]
    return out


def mean_volume(ds, slab: int = 8) -> np.ndarray:
    """Mean over trials of a whole ``(trials, Z, Y, X)`` betas dataset, returned (X, Y, Z) float32, read in slabs."""
    t, z, y, x = ds.shape
    out = np.empty((z, y, x), np.float64)
    for k0 in range(0, z, slab):
        out[k0 : k0 + slab] = _read_planes(ds, k0, min(k0 + slab, z)).mean(0, dtype=np.float64)
    return out.transpose(2, 1, 0).astype(np.float32)


def surface_betas_shape(path: str) -> Tuple[int, int, np.dtype]:
    """(vertices, trials, dtype) of ``<hemi>.betas_sessionNN.mgh`` (stored vertices x 1 x 1 x trials)."""
    img = _load_image(path, 'MGH')
    shape = tuple(img.shape)
    if len(shape) != 4 or shape[1:3] != (1, 1) or shape[3] == 0:
        raise NSDFormatError(f'{path}: betas have shape {shape}, expected (vertices, 1, 1, trials)')
    dtype = np.dtype(img.get_data_dtype()).newbyteorder('=')  # MGH files are big-endian
    if dtype not in [np.dtype(d) for d in BETA_DTYPES]:
        raise NSDFormatError(f'{path}: betas have dtype {dtype}, expected float32 or int16')
    return int(shape[0]), int(shape[3]), dtype


def read_surface_betas(path: str, vertices: np.ndarray, block: int = 8192) -> np.ndarray:
    """All trials of some vertices of ``<hemi>.betas_sessionNN.mgh``: (trials, len(vertices)) in the file's dtype.

    The file is read in spans of at most ``block`` vertices (all trials), so memory stays at the output plus one span.

    Args:
        path: the session file.
        vertices: (V,) ascending vertex indices.
        block: vertices per read.
    """
    img = _load_image(path, 'MGH')
    dtype = np.dtype(img.get_data_dtype()).newbyteorder('=')
    out = np.empty((img.shape[3], len(vertices)), dtype)
    try:
        a = 0
        while a < len(vertices):
            b = int(np.searchsorted(vertices, vertices[a] + block))  # vertices within one span
            v0, v1 = int(vertices[a]), int(vertices[b - 1]) + 1
            span = np.asanyarray(img.dataobj[v0:v1])
            out[:, a:b] = span[vertices[a:b] - v0, 0, 0, :].T
            a = b
    except Exception as exc:
        raise NSDFormatError(f'{path}: cannot read betas ({exc})') from exc
    return out

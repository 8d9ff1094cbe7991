# Copyright (c) mmbrain contributors. All rights reserved.
"""Convert the Algonauts 2023 challenge layout (NSD on the fsaverage surface) into mmbrain's per-subject files.

Input, per subject ``ROOT/subjXX``::

    training_split/training_fmri/{lh,rh}_training_fmri.npy       (N, V_hemi) float32, z-scored, repeats averaged
    training_split/training_images/train-%04d_nsd-%05d.png       row (1-based), nsd_id (0-based)
    roi_masks/{lh,rh}.all-vertices_fsaverage_space.npy           fsaverage vertices; nonzero = challenge vertex
    roi_masks/{lh,rh}.<group>_challenge_space.npy                (V_hemi,) labels of each challenge vertex
    roi_masks/mapping_<group>.npy                                pickled {label: name}

Output: the schema of :mod:`.converted_file` with ``space="fsaverage"``, ``zscore="session"``, ``averaged=True``,
``n_repeats=0`` (unknown), vertices instead of voxels (``rois/G/vertex`` and ``rois/G/hemi``, lh then rh,
ascending) and ``rois/G/xyz`` from an fsaverage surface (``<fsaverage>/surf/{lh,rh}.<surface>``) when given;
without one the coordinates are left out (only a positional-embedding encoder can use the files) and a warning
says so. ``shared1000`` comes from ``nsd_stim_info_merged.csv`` when given, else from the images that every
converted subject saw (a subset of NSD's shared1000), with a warning.
"""

import os
import os.path as osp
import pickle
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils.atomic import check_output
from ..utils.logging import get_logger
from .converted_file import ConvertedSubjectWriter, converted_path, subject_tag
from .nsd_files import HEMIS, ROI_GROUPS, NSDFormatError, read_stim_info, read_surface_geometry, require_file

_ROW_BLOCK = 1024
_IMAGE_NAME = re.compile(r'train-(\d{4,})_nsd-(\d{5,})\.png')


def _subject_dir(root: str, subject: int) -> str:
    return osp.join(root, subject_tag(subject))


def find_algonauts_subjects(root: str) -> List[int]:
    if not osp.isdir(root):
        raise NSDFormatError(f'{root}: folder not found')
    subjects = sorted(
        int(d[4:])
        for d in os.listdir(root)
        if re.fullmatch(r'subj\d\d', d) and osp.isdir(osp.join(root, d, 'training_split'))
    )
    if not subjects:
        raise NSDFormatError(f'{root}: no subjXX/training_split folders (is --root the Algonauts data folder?)')
    return subjects


def _load_npy(path: str, mmap_mode: Optional[str] = None) -> np.ndarray:
    """A numeric ``.npy`` array (memory-mapped with ``mmap_mode``); a pickled, truncated or foreign file is an
    :class:`NSDFormatError` naming it (nothing is unpickled)."""
    require_file(path)
    try:
        array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError / OSError / EOFError for pickled, truncated or foreign files
        raise NSDFormatError(f'{path}: not a readable numeric .npy file ({exc})') from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in 'biuf':
        raise NSDFormatError(f'{path}: expected a numeric array, found {getattr(array, "dtype", type(array))}')
    return array


class _Inert:
    """Stands in for a numpy object that ``np.save`` pickles around an object array: keeps its arguments and
    state, runs nothing."""

    def __init__(self, *args):
        self.args = args
        self.state = None

    def __setstate__(self, state):
        self.state = state


def _scalar(dtype: _Inert, data: bytes):
    """A numpy integer or string scalar (as pickled by numpy) decoded into a Python int or str, else None."""
    kind = re.fullmatch(r'([iuU])(\d+)', str(dtype.args[0]) if dtype.args else '')
    order = dtype.state[1] if isinstance(dtype.state, tuple) and len(dtype.state) > 1 else '<'
    if kind is None or not isinstance(data, bytes):
        return None
    if kind.group(1) == 'U':
        return data.decode('utf-32-be' if order == '>' else 'utf-32-le').rstrip('\0')
    return int.from_bytes(data, 'big' if order == '>' else 'little', signed=kind.group(1) == 'i')


class _LabelMappingUnpickler(pickle.Unpickler):
    """Reads the pickle that ``np.save`` writes for a ``{label: name}`` dict, and nothing else.

    Only builtins ``dict``, ``int`` and ``str`` resolve to themselves; the numpy globals of an object array's
    pickle (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``) resolve to inert stand-ins, so no numpy code runs
    with arguments from the file; any other global (``os.system``, ``builtins.eval``, a class) is refused.
    """

    _BUILTINS = dict(dict=dict, int=int, str=str)
    _NUMPY = {'_reconstruct': _Inert, 'ndarray': _Inert, 'dtype': _Inert, 'scalar': _scalar}

    def find_class(self, module: str, name: str):
        if module == 'builtins' and name in self._BUILTINS:
            return self._BUILTINS[name]
        if module in ('numpy', 'numpy.core.multiarray', 'numpy._core.multiarray') and name in self._NUMPY:
            return self._NUMPY[name]
        raise pickle.UnpicklingError(f'global {module}.{name} is not allowed')


def load_label_mapping(path: str) -> Dict[int, str]:
    """Read a challenge ``mapping_<group>.npy`` (``np.save`` of a ``{label: name}`` dict) without unpickling
    anything but that dict.

    ``np.load(allow_pickle=True)`` would let the file run arbitrary code; here the ``.npy`` header is parsed with
    numpy and its pickled payload by :class:`_LabelMappingUnpickler`.

    Raises:
        NSDFormatError: the file is missing, is not such a mapping, or its pickle references anything else (the
            message names the file and the refused global).
    """
    require_file(path)
    try:
        with open(path, 'rb') as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
            if dtype.kind != 'O' or shape != ():
                raise NSDFormatError(
                    f'{path}: expected np.save of a {{label: name}} dict, found an array of '
                    f'dtype {dtype} and shape {shape}'
                )
            array = _LabelMappingUnpickler(f).load()
    except NSDFormatError:
        raise
    except pickle.UnpicklingError as exc:
        raise NSDFormatError(
            f'{path}: refusing to unpickle it: {exc} (a label mapping holds only a dict of ints and strings)'
        ) from exc
    except Exception as exc:
        raise NSDFormatError(f'{path}: not a readable .npy label mapping ({exc})') from exc
    state = array.state if isinstance(array, _Inert) else None
    items = state[4] if isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], list) else None
    mapping = items[0] if items and len(items) == 1 else None
    if not isinstance(mapping, dict) or not all(isinstance(k, int) and isinstance(v, str) for k, v in mapping.items()):
        raise NSDFormatError(f'{path}: expected a pickled dict {{label (int): name (str)}}')
    return mapping


def training_nsd_ids(subject_dir: str) -> np.ndarray:
    """0-based nsd_ids of the training rows, from ``train-%04d_nsd-%05d.png`` (rows numbered 1..N, no gaps)."""
    folder = osp.join(subject_dir, 'training_split', 'training_images')
    if not osp.isdir(folder):
        raise NSDFormatError(f'{folder}: folder not found')
    rows = {}
    for name in os.listdir(folder):
        m = _IMAGE_NAME.fullmatch(name)
        if m:
            rows[int(m.group(1))] = int(m.group(2))
    if not rows:
        raise NSDFormatError(f'{folder}: no train-NNNN_nsd-NNNNN.png images')
    if sorted(rows) != list(range(1, len(rows) + 1)):
        missing = sorted(set(range(1, max(rows) + 1)) - set(rows))[:5]
        raise NSDFormatError(f'{folder}: training images must be numbered 1..N without gaps (missing {missing})')
    return np.array([rows[r] for r in range(1, len(rows) + 1)], np.int32)


def _subject_tables(subject_dir: str, fsaverage: Optional[str], surface: str):
    """Per hemisphere: challenge vertices, fMRI array path and shape, per-group labels, names, coordinates."""
    masks = osp.join(subject_dir, 'roi_masks')
    hemis = {}
    for h, hemi in enumerate(HEMIS):
        mask_path = osp.join(masks, f'{hemi}.all-vertices_fsaverage_space.npy')
        mask = _load_npy(mask_path)
        if mask.ndim != 1:
            raise NSDFormatError(f'{mask_path}: shape {mask.shape}, expected (fsaverage vertices,)')
        vertices = np.flatnonzero(mask)
        fmri_path = osp.join(subject_dir, 'training_split', 'training_fmri', f'{hemi}_training_fmri.npy')
        fmri = _load_npy(fmri_path, mmap_mode='r')
        if fmri.ndim != 2 or fmri.shape[1] != len(vertices):
            raise NSDFormatError(
                f'{fmri_path}: shape {fmri.shape}, expected (images, {len(vertices)}) for the '
                f'{len(vertices)} challenge vertices of {mask_path}'
            )
        labels = {}
        for group in ROI_GROUPS:
            path = osp.join(masks, f'{hemi}.{group}_challenge_space.npy')
            lab = _load_npy(path)
            if lab.shape != (len(vertices),):
                raise NSDFormatError(f'{path}: shape {lab.shape}, expected ({len(vertices)},) challenge vertices')
            labels[group] = lab.astype(np.int64)
        xyz = None
        if fsaverage:
            surface_file = osp.join(fsaverage, 'surf', f'{hemi}.{surface}')
            xyz = read_surface_geometry(surface_file, len(mask), mask_path)[0][vertices]
        hemis[hemi] = dict(
            index=h,
            vertices=vertices,
            n_surface=len(mask),
            fmri_path=fmri_path,
            n_rows=fmri.shape[0],
            labels=labels,
            xyz=xyz,
        )
    names = {}
    for group in ROI_GROUPS:
        path = osp.join(masks, f'mapping_{group}.npy')
        mapping = load_label_mapping(path)
        present = set().union(*(np.unique(hemis[h]['labels'][group]).tolist() for h in HEMIS)) - {0}
        missing = sorted(v for v in present if v > 0 and v not in mapping)
        if missing:
            raise NSDFormatError(f'{path}: no name for labels {missing}')
        n = max(present, default=0)
        names[group] = [str(mapping.get(v, 'Unknown' if v == 0 else f'label{v}')) for v in range(n + 1)]
    return hemis, names


def convert_algonauts(
    root: str,
    out_dir: str,
    subjects: Optional[Sequence[int]] = None,
    fsaverage: Optional[str] = None,
    surface: str = 'white',
    stim_info: Optional[str] = None,
    overwrite: bool = False,
) -> List[str]:
    """Convert Algonauts 2023 subjects to ``out_dir/subjXX.h5`` (see the module docstring).

    Args:
        root: the challenge data folder holding ``subjXX/``.
        out_dir: output folder.
        subjects: 1-based subjects; default every ``subjXX`` with a ``training_split``.
        fsaverage: FreeSurfer ``fsaverage`` subject folder (``surf/lh.white`` ...) for vertex coordinates.
        surface: which surface gives the coordinates (``white``, ``pial``, ``inflated``, ...).
        stim_info: ``nsd_stim_info_merged.csv`` for the ``shared1000`` flags.
        overwrite: replace existing outputs (atomically).

    Returns:
        The written file paths.
    """
    subjects = list(subjects) if subjects else find_algonauts_subjects(root)
    for s in subjects:  # before any work; the writer checks again, atomically, when it publishes
        check_output(converted_path(out_dir, s), overwrite)
    plans: Dict[int, Tuple] = {}
    for s in subjects:
        folder = _subject_dir(root, s)
        ids = training_nsd_ids(folder)
        hemis, names = _subject_tables(folder, fsaverage, surface)
        for t in hemis.values():
            if t['n_rows'] != len(ids):
                raise NSDFormatError(f'{t["fmri_path"]}: {t["n_rows"]} rows, but {len(ids)} training images')
        plans[s] = (ids, hemis, names)
    if stim_info:
        info = read_stim_info(stim_info, ('shared1000',))
        shared = set(info.nsd_id[info.shared1000].tolist())
    else:
        shared = set.intersection(*(set(p[0].tolist()) for p in plans.values())) if len(plans) > 1 else set()
        get_logger().warning(
            'no --stim-info: shared1000 marks the images every converted subject saw'
            + ('' if len(plans) > 1 else ' (one subject: none)')
        )
    if not fsaverage:
        get_logger().warning(
            'no --fsaverage surface: vertex coordinates (rois/G/xyz) are left out, so only encoders '
            'with positional (not 3D voxel) embeddings can use these files'
        )

    sealed: List[ConvertedSubjectWriter] = []  # every subject complete and verified before any is published
    try:
        for s, (ids, hemis, names) in plans.items():
            path = converted_path(out_dir, s)
            sealed.append(_write_subject(path, s, ids, hemis, names, shared, fsaverage, overwrite))
        for writer in sealed:
            writer.publish()
    finally:
        for writer in sealed:
            writer.discard()
    return [writer.path for writer in sealed]


def _write_subject(
    path: str,
    subject: int,
    ids: np.ndarray,
    hemis: Dict[str, dict],
    names: Dict[str, List[str]],
    shared: set,
    fsaverage: Optional[str],
    overwrite: bool,
) -> ConvertedSubjectWriter:
    """One subject's converted file, sealed (synced and verified) but not yet published."""
    parts = {group: [(t, np.flatnonzero(t['labels'][group] > 0)) for t in hemis.values()] for group in ROI_GROUPS}
    voxels = [sum(len(c) for _, c in parts[group]) for group in ROI_GROUPS]
    with ConvertedSubjectWriter(
        path,
        subject,
        'fsaverage',
        'session',
        True,
        overwrite,
        surface_vertices=tuple(hemis[hemi]['n_surface'] for hemi in HEMIS),
        coordinate_space='fsaverage' if fsaverage else None,
        defer=True,
        reserve_bytes=ConvertedSubjectWriter.expected_bytes(len(ids), voxels),
    ) as writer:
        writer.write_rows(ids, np.zeros(len(ids)), np.isin(ids, list(shared)), np.zeros(len(ids)))
        fmri = {hemi: _load_npy(t['fmri_path'], mmap_mode='r') for hemi, t in hemis.items()}
        for group in ROI_GROUPS:
            label = np.concatenate([t['labels'][group][c] for t, c in parts[group]])
            vertex = np.concatenate([t['vertices'][c] for t, c in parts[group]])
            hemi_idx = np.concatenate([np.full(len(c), t['index']) for t, c in parts[group]])
            xyz = np.concatenate([t['xyz'][c] for t, c in parts[group]]) if fsaverage else None
            ds = writer.create_group(group, len(ids), label, names[group], xyz=xyz, vertex=vertex, hemi=hemi_idx)
            for a in range(0, len(ids), _ROW_BLOCK):  # memory: one block of rows
                block = []
                for hemi, (t, c) in zip(HEMIS, parts[group]):
                    part = np.asarray(fmri[hemi][a : a + _ROW_BLOCK, c], np.float32)
                    if not np.all(np.isfinite(part)):
                        raise NSDFormatError(f'{t["fmri_path"]}: NaN or inf values (rows from {a + 1})')
                    block.append(part)
                ds[a : a + _ROW_BLOCK] = np.concatenate(block, axis=1)
    return writer

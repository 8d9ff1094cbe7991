# Copyright (c) mmbrain contributors. All rights reserved.
"""The per-voxel results file (``voxelwise.npz``): its one writer and its one reader.

``BrainEncodingMetric(voxelwise_file=...)`` writes it; brain maps (:mod:`mmbrain.evaluation.brain_maps`) and the
pipeline's report read it. Layout (``np.savez``, no pickled objects), per ROI group ``G`` of the converted file, in
its voxel order:

* ``G/r`` float (V_G,): Pearson r of each voxel on the test split (paper Sec. 4.2);
* ``G/noise_ceiling`` float (V_G,): percent explainable variance, where known;
* ``G/algonauts_score`` float (V_G,): ``100 r+^2 / NC`` capped at 100, where written (else derived from the two);
* ``G/xyz`` float (V_G, 3): the voxels' millimetre coordinates, where the converted file has them.
"""

from typing import Dict, Mapping

import numpy as np

from mmbrain.utils.atomic import atomic_write

#: The per-voxel fields, with the number of values per voxel.
FIELDS: Dict[str, int] = {'r': 1, 'noise_ceiling': 1, 'algonauts_score': 1, 'xyz': 3}

Voxelwise = Dict[str, Dict[str, np.ndarray]]


class VoxelwiseFormatError(ValueError):
    """A per-voxel results file is not of the layout above; the message names the file."""


def _check(path: str, results: Mapping[str, Mapping[str, np.ndarray]]) -> Voxelwise:
    """``results`` as arrays, after checking fields and shapes (every group has ``r``; one voxel count per group)."""
    out: Voxelwise = {}
    for group, fields in results.items():
        if not group or '/' in group:
            raise VoxelwiseFormatError(f'{path}: invalid ROI group name {group!r}')
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown or 'r' not in fields:
            raise VoxelwiseFormatError(
                f'{path}: group {group} has fields {sorted(fields)}; expected "r" and any of {list(FIELDS)}'
            )
        n = np.shape(fields['r'])[0] if np.ndim(fields['r']) == 1 else None
        arrays = {}
        for name, value in fields.items():
            value = np.asarray(value)
            expected = (n,) if FIELDS[name] == 1 else (n, FIELDS[name])
            if n is None or value.shape != expected or value.dtype.kind not in 'fiu':
                raise VoxelwiseFormatError(
                    f'{path}: {group}/{name} has shape {value.shape} and dtype {value.dtype}, expected numbers of '
                    f'shape {expected if n is not None else "(voxels,)"}'
                )
            arrays[name] = value
        out[group] = arrays
    return out


def write_voxelwise(path: str, results: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write ``{group: {field: array}}`` to ``path`` (atomically, see :mod:`mmbrain.utils.atomic`).

    Raises:
        VoxelwiseFormatError: a field is unknown or of the wrong shape (nothing is written).
    """
    checked = _check(path, results)
    with atomic_write(path, 'wb') as f:
        np.savez(f, **{f'{group}/{name}': value for group, fields in checked.items() for name, value in fields.items()})


def read_voxelwise(path: str) -> Voxelwise:
    """``{group: {field: array}}`` from a file written by :func:`write_voxelwise`.

    Raises:
        FileNotFoundError: no such file.
        VoxelwiseFormatError: not such a file (not an ``.npz``, pickled objects, unknown keys, shapes).
    """
    results: Voxelwise = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                group, _, name = key.rpartition('/')
                results.setdefault(group, {})[name] = data[key]
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, numpy and pickle refusals, a lone .npy: not this file
        raise VoxelwiseFormatError(f'{path}: not a readable per-voxel results file ({exc})') from exc
    return _check(path, results)

# Copyright (c) mmbrain contributors. All rights reserved.
"""Encoding results as brain data: per-voxel maps in the subject's own space, for the tools neuroscientists use.

:func:`write_brain_maps` turns the per-voxel results that ``BrainEncodingMetric(voxelwise_file=...)`` saves
(:mod:`.voxelwise`) into

* volume spaces (``func1pt8mm``, ``func1mm``): NIfTI volumes ``r.nii.gz``, ``noise_ceiling.nii.gz`` and
  ``algonauts_score.nii.gz`` on the subject's grid with the affine of NSD's ROI / betas files (schema version 2
  of the converted file stores both), NaN outside the converted ROIs; they overlay NSD's own files
  (``T1_to_func1pt8mm.nii.gz``, ROI volumes) in FSLeyes, Freeview or nilearn;
* the fsaverage surface: FreeSurfer overlays ``lh.r.mgh``, ``rh.r.mgh``, ... with one value per fsaverage vertex.

A voxel in several ROI groups (``streams`` overlaps the others) takes the mean of its groups' values (each group
has its own prediction); ``per_group=True`` also writes one map per group (``<G>.r.nii.gz``). The Algonauts score is
the devkit's per-voxel ``100 r+^2 / NC`` capped at 100 (:func:`~mmbrain.evaluation.functional.algonauts_score`).
``maps.json`` lists the files, the space and the anatomy to show them over (``subjXX_anatomy.nii.gz``, written by
the converter beside the subject file: NSD's T1 when present, else its mean beta; for fsaverage the meshes
``subjXX_{lh,rh}.surf.gii``: fsaverage's inflated surface when NSD's copy has it).
"""

import gzip
import json
import os.path as osp
from typing import Dict, Optional

import numpy as np

from mmbrain.utils.atomic import atomic_write

from .voxelwise import read_voxelwise

#: Maps written, with their description (NIfTI ``descrip``).
MAP_KEYS: Dict[str, str] = {
    'r': 'mmbrain encoding Pearson r',
    'noise_ceiling': 'mmbrain noise ceiling (% explainable variance)',
    'algonauts_score': 'mmbrain Algonauts score (100 r+^2/NC)',
}
MAPS_INDEX = 'maps.json'


def _per_voxel(fields: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The maps of one group: r, and the noise ceiling and Algonauts score where the ceiling is known."""
    from .functional import algonauts_score

    out = {'r': np.asarray(fields['r'], np.float64)}
    if 'noise_ceiling' in fields:
        out['noise_ceiling'] = np.asarray(fields['noise_ceiling'], np.float64)
        out['algonauts_score'] = np.asarray(
            fields['algonauts_score']
            if 'algonauts_score' in fields
            else algonauts_score(out['r'], out['noise_ceiling']),
            np.float64,
        )
    return out


def _save_nifti(path: str, data: np.ndarray, affine: np.ndarray, description: str) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(data.astype(np.float32), affine)
    img.header.set_xyzt_units('mm')
    img.header['descrip'] = description[:79].encode()
    with atomic_write(path, 'wb') as f:
        f.write(gzip.compress(img.to_bytes(), compresslevel=6))


def _save_mgh(path: str, values: np.ndarray) -> None:
    import nibabel as nib

    img = nib.MGHImage(values.astype(np.float32).reshape(-1, 1, 1), np.eye(4))
    with atomic_write(path, 'wb') as f:
        f.write(img.to_bytes())


def _mean_over_groups(units: Dict[str, np.ndarray], values: Dict[str, np.ndarray], size: int) -> np.ndarray:
    """Scatter each group's values to flat positions; positions in several groups take the mean; NaN elsewhere."""
    sums, counts = np.zeros(size), np.zeros(size)
    for group, index in units.items():
        if group in values:
            np.add.at(sums, index, values[group])
            np.add.at(counts, index, 1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(counts > 0, sums / counts, np.nan)


def write_brain_maps(
    voxelwise_file: str, subject_file: str, out_dir: str, per_group: bool = False
) -> Dict[str, object]:
    """Write per-voxel encoding results as NIfTI volumes (volume spaces) or fsaverage overlays (surface).

    Args:
        voxelwise_file: the ``.npz`` of ``BrainEncodingMetric(voxelwise_file=...)``.
        subject_file: the evaluated subject's converted ``subjXX.h5`` (schema version 2: affine and grid).
        out_dir: folder of the maps (created).
        per_group: also write one map per ROI group.

    Returns:
        The contents of ``out_dir/maps.json``: ``space``, ``subject``, ``maps`` (key -> file, or for surfaces
        key -> {hemi: file}), ``groups`` (per-group files when written), ``anatomy`` (path or None).

    Raises:
        ConvertedFormatError: the subject file is of schema version 1 (reconvert it) or does not match the results.
    """
    from mmbrain.datasets.converted_file import ConvertedFormatError, ConvertedSubject, anatomy_path, mesh_path

    subject = ConvertedSubject(subject_file)
    subject.require_version(2, 'writing results as brain maps (NIfTI affine and grid, fsaverage vertex counts)')
    voxelwise = read_voxelwise(voxelwise_file)
    groups = [g for g in subject.groups if g in voxelwise]
    if not groups:
        raise ConvertedFormatError(f'{voxelwise_file}: no "<group>/r" of the groups {subject.groups} of {subject_file}')
    per_voxel = {g: _per_voxel(voxelwise[g]) for g in groups}
    for g in groups:
        if per_voxel[g]['r'].shape != (subject.voxel_counts[g],):
            raise ConvertedFormatError(
                f'{voxelwise_file}: {g}/r has {per_voxel[g]["r"].size} values, but {g} of '
                f'{subject_file} has {subject.voxel_counts[g]} voxels (another subject?)'
            )
    keys = [k for k in MAP_KEYS if any(k in per_voxel[g] for g in groups)]
    index = dict(
        space=subject.space,
        subject=int(subject.subject),
        voxelwise_file=osp.abspath(voxelwise_file),
        subject_file=osp.abspath(subject_file),
        maps={},
        groups={},
        anatomy=None,
    )
    if subject.space == 'fsaverage':
        n_vertices = subject.surface_vertices
        for g in groups:
            for h in (0, 1):
                vertices = subject.vertex(g)[subject.hemi(g) == h]
                if vertices.size and vertices.max() >= n_vertices[h]:
                    raise ConvertedFormatError(
                        f'{subject_file}: rois/{g}/vertex reaches {vertices.max()}, beyond '
                        f'the {n_vertices[h]} vertices of the surface'
                    )
        for hemi_index, hemi in enumerate(('lh', 'rh')):
            units = {g: subject.vertex(g)[subject.hemi(g) == hemi_index] for g in groups}
            for key in keys:
                values = {g: per_voxel[g][key][subject.hemi(g) == hemi_index] for g in groups if key in per_voxel[g]}
                path = osp.join(out_dir, f'{hemi}.{key}.mgh')
                _save_mgh(path, _mean_over_groups(units, values, n_vertices[hemi_index]))
                index['maps'].setdefault(key, {})[hemi] = path
                if per_group:
                    for g in values:
                        path = osp.join(out_dir, f'{hemi}.{g}.{key}.mgh')
                        _save_mgh(path, _mean_over_groups({g: units[g]}, {g: values[g]}, n_vertices[hemi_index]))
                        index['groups'].setdefault(g, {}).setdefault(key, {})[hemi] = path
        meshes = {hemi: mesh_path(subject_file, hemi) for hemi in ('lh', 'rh')}
        index['mesh'] = {hemi: p for hemi, p in meshes.items() if osp.isfile(p)} or None
    else:
        if subject.affine is None or subject.grid_shape is None:
            raise ConvertedFormatError(
                f'{subject_file}: no affine / grid_shape (convert it again with '
                'tools/dataset_converters/nsd_to_mmbrain.py)'
            )
        grid = tuple(int(n) for n in subject.grid_shape)
        units = {g: np.ravel_multi_index(tuple(subject.ijk(g).astype(np.int64).T), grid) for g in groups}
        for key in keys:
            values = {g: per_voxel[g][key] for g in groups if key in per_voxel[g]}
            path = osp.join(out_dir, f'{key}.nii.gz')
            _save_nifti(
                path, _mean_over_groups(units, values, int(np.prod(grid))).reshape(grid), subject.affine, MAP_KEYS[key]
            )
            index['maps'][key] = path
            if per_group:
                for g in values:
                    path = osp.join(out_dir, f'{g}.{key}.nii.gz')
                    volume = _mean_over_groups({g: units[g]}, {g: values[g]}, int(np.prod(grid))).reshape(grid)
                    _save_nifti(path, volume, subject.affine, f'{MAP_KEYS[key]}, {g}')
                    index['groups'].setdefault(g, {})[key] = path
        anatomy = anatomy_path(subject_file)
        index['anatomy'] = anatomy if osp.isfile(anatomy) else None
    # The maps are stored relative to ``out_dir`` so that the folder can move (the pipeline renames its stages).
    with atomic_write(osp.join(out_dir, MAPS_INDEX)) as f:
        json.dump(_map_paths(index, lambda p: osp.relpath(p, out_dir)), f, indent=1)
    return index


def _map_paths(index: Dict[str, object], fn) -> Dict[str, object]:
    """``index`` with ``fn`` applied to the paths of its maps (``maps`` and ``groups``; anatomy and meshes stay)."""

    def apply(node):
        return {k: apply(v) for k, v in node.items()} if isinstance(node, dict) else fn(node)

    return dict(index, maps=apply(index['maps']), groups=apply(index['groups']))


def read_maps_index(out_dir: str) -> Optional[Dict[str, object]]:
    """``maps.json`` of a folder written by :func:`write_brain_maps` (map paths made absolute), or None."""
    path = osp.join(out_dir, MAPS_INDEX)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return _map_paths(json.load(f), lambda p: osp.join(osp.abspath(out_dir), p))

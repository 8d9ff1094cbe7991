# Copyright (c) mmbrain contributors. All rights reserved.
"""Encoding results written as brain data: NIfTI volumes in the subject's space, fsaverage overlays, and views."""

import os.path as osp
import shutil

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from _helpers import world_args

from mmbrain.datasets.converted_file import ConvertedFormatError, ConvertedSubject
from mmbrain.datasets.nsd_files import roi_path
from mmbrain.evaluation.brain_maps import read_maps_index, write_brain_maps
from mmbrain.evaluation.metrics.brain_encoding import BrainEncodingMetric

GROUP = 'floc-faces'


def _evaluate(subject_file, voxelwise_file, plant, seed=0, brain_maps_dir=None):
    """Run BrainEncodingMetric on random predictions, with pred = +-gt at the planted (i, j, k) in every group."""
    s = ConvertedSubject(subject_file)
    rng = np.random.default_rng(seed)
    gt = {g: s.betas(g) for g in s.groups}
    pred = {g: rng.standard_normal(b.shape).astype(np.float32) for g, b in gt.items()}
    for g in s.groups:
        units = s.ijk(g) if s.space != 'fsaverage' else np.stack([s.hemi(g), s.vertex(g)], 1)
        for key, sign in plant.items():
            cols = np.flatnonzero((units == np.asarray(key)).all(1))
            pred[g][:, cols] = sign * gt[g][:, cols]
    metric = BrainEncodingMetric(
        subject_file=subject_file, voxelwise_file=voxelwise_file, brain_maps_dir=brain_maps_dir
    )
    metric.process(
        None,
        [
            dict(
                nsd_id=int(s.nsd_id[row]),
                row=row,
                pred_fmri={g: torch.from_numpy(pred[g][row]) for g in s.groups},
                gt_fmri={g: torch.from_numpy(gt[g][row]) for g in s.groups},
            )
            for row in range(s.n_rows)
        ],
    )
    metric.compute_metrics(metric.results)
    return s, dict(np.load(voxelwise_file))


def test_r_map_of_the_held_out_subject_is_a_nifti_in_its_space(nsd_world, tmp_path):
    subject = nsd_world.subjects[-1]
    path = nsd_world.converted_file(subject)
    faces = ConvertedSubject(path).ijk(GROUP)
    plant = {tuple(int(c) for c in faces[0]): 1.0, tuple(int(c) for c in faces[-1]): -1.0}
    s, voxelwise = _evaluate(path, str(tmp_path / 'voxelwise.npz'), plant, brain_maps_dir=str(tmp_path / 'metric'))
    index = write_brain_maps(str(tmp_path / 'voxelwise.npz'), path, str(tmp_path / 'maps'), per_group=True)
    from_metric = read_maps_index(str(tmp_path / 'metric'))  # what BrainEncodingMetric(brain_maps_dir=...) wrote
    np.testing.assert_array_equal(
        nib.load(from_metric['maps']['r']).get_fdata(), nib.load(index['maps']['r']).get_fdata()
    )

    img = nib.load(index['maps']['r'])
    source = nib.load(roi_path(nsd_world.root, subject, GROUP))
    np.testing.assert_allclose(img.affine, source.affine)
    assert img.shape == source.shape
    r_map = img.get_fdata()
    for ijk, sign in plant.items():
        assert r_map[ijk] == pytest.approx(sign, abs=1e-5)
    # Every voxel holds the metric's r (the mean over the groups that contain it); NaN outside the ROIs.
    sums, counts = np.zeros(source.shape), np.zeros(source.shape)
    for g in s.groups:
        np.add.at(sums, tuple(s.ijk(g).T), voxelwise[f'{g}/r'])
        np.add.at(counts, tuple(s.ijk(g).T), 1)
    inside = counts > 0
    np.testing.assert_allclose(r_map[inside], (sums / np.maximum(counts, 1))[inside], atol=1e-6)
    assert np.isnan(r_map[~inside]).all()
    face_map = nib.load(index['groups'][GROUP]['r']).get_fdata()
    np.testing.assert_allclose(face_map[tuple(s.ijk(GROUP).T)], voxelwise[f'{GROUP}/r'], atol=1e-6)
    for key in ('noise_ceiling', 'algonauts_score'):
        values = nib.load(index['maps'][key]).get_fdata()
        assert np.isfinite(values[inside]).all() and np.isnan(values[~inside]).all()
    assert index['anatomy'] and nib.load(index['anatomy']).shape == source.shape

    # The folder can move (the pipeline renames its finished stages): the index finds its maps in the new place.
    shutil.move(str(tmp_path / 'maps'), str(tmp_path / 'moved'))
    moved = read_maps_index(str(tmp_path / 'moved'))
    assert moved['maps']['r'] == str(tmp_path / 'moved' / 'r.nii.gz')
    np.testing.assert_array_equal(nib.load(moved['maps']['r']).get_fdata(), r_map)


def test_version_1_files_get_a_clear_message(nsd_world, tmp_path):
    subject = nsd_world.subjects[-1]
    old = str(tmp_path / 'subj_v1.h5')
    shutil.copy(nsd_world.converted_file(subject), old)
    with h5py.File(old, 'r+') as f:
        f.attrs['version'] = 1
    _evaluate(nsd_world.converted_file(subject), str(tmp_path / 'v.npz'), {})
    with pytest.raises(ConvertedFormatError, match='version'):
        write_brain_maps(str(tmp_path / 'v.npz'), old, str(tmp_path / 'maps'))


def test_fsaverage_results_are_surface_overlays(tmp_path):
    from mmbrain.datasets.converter import convert_nsd
    from mmbrain.datasets.synthetic import make_synthetic_nsd

    root = str(tmp_path / 'nsd')
    make_synthetic_nsd(root, **world_args(n_sessions=2, volume_scale=0.2, nsd_extras=True))
    path = convert_nsd(root, str(tmp_path / 'out'), space='fsaverage', rois=['nsdgeneral', GROUP], progress=False)[0]
    s = ConvertedSubject(path)
    rh = np.flatnonzero(s.hemi(GROUP) == 1)[0]
    vertex = int(s.vertex(GROUP)[rh])
    s, voxelwise = _evaluate(path, str(tmp_path / 'v.npz'), {(1, vertex): 1.0})
    index = write_brain_maps(str(tmp_path / 'v.npz'), path, str(tmp_path / 'maps'))
    overlay = np.asarray(nib.load(index['maps']['r']['rh']).dataobj).reshape(-1)
    assert overlay.size == s.surface_vertices[1]
    assert overlay[vertex] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(
        np.isfinite(np.asarray(nib.load(index['maps']['r']['lh']).dataobj).reshape(-1)),
        np.isin(np.arange(s.surface_vertices[0]), np.concatenate([s.vertex(g)[s.hemi(g) == 0] for g in s.groups])),
    )
    assert set(index['mesh']) == {'lh', 'rh'}


def test_views_with_nilearn_and_the_fallback(nsd_world, tmp_path, monkeypatch):
    from mmbrain.visualization import brain_map

    subject = nsd_world.subjects[-1]
    _evaluate(nsd_world.converted_file(subject), str(tmp_path / 'v.npz'), {})
    index = write_brain_maps(str(tmp_path / 'v.npz'), nsd_world.converted_file(subject), str(tmp_path / 'maps'))
    if brain_map.nilearn_available():
        brain_map.plot_result_maps({'Brainformer': index}, tmp_path / 'nilearn.png')
        assert osp.getsize(tmp_path / 'nilearn.png') > 10000
    monkeypatch.setattr(brain_map, 'nilearn_available', lambda: False)
    brain_map.plot_result_maps({'Brainformer': index}, tmp_path / 'fallback.png')
    assert osp.getsize(tmp_path / 'fallback.png') > 10000


def test_the_command_line_tool(nsd_world, tmp_path, capsys):
    from _helpers import load_tool

    main = load_tool('tools/analysis_tools/write_brain_maps.py').main
    subject_file = nsd_world.converted_file(nsd_world.subjects[-1])
    _evaluate(subject_file, str(tmp_path / 'v.npz'), {})
    assert (
        main([str(tmp_path / 'v.npz'), subject_file, '--out', str(tmp_path / 'm'), '--png', str(tmp_path / 'r.png')])
        == 0
    )
    assert osp.isfile(tmp_path / 'm' / 'r.nii.gz') and osp.getsize(tmp_path / 'r.png') > 10000
    assert main([str(tmp_path / 'v.npz'), str(tmp_path / 'missing.h5'), '--out', str(tmp_path / 'x')]) == 1
    assert 'missing.h5: file not found' in capsys.readouterr().err

# Copyright (c) mmbrain contributors. All rights reserved.
"""NSD as neuroscientists use it: beta versions, ROI choice, NSD's own ncsnr, fsaverage surface betas, and the
conversion refusing silently wrong inputs (a session missing in the middle, NaN betas)."""

import os
import os.path as osp
import re

import h5py
import nibabel as nib
import numpy as np
import pytest

from mmbrain.datasets.converted_file import ConvertedSubject, anatomy_path
from mmbrain.datasets.converter import convert_nsd
from mmbrain.datasets.nsd_files import (
    BETA_SCALE,
    BETAS_VERSIONS,
    HEMIS,
    NSDFormatError,
    NSDOptionError,
    betas_path,
    expdesign_path,
    fsaverage_surface_path,
    ncsnr_path,
    roi_path,
    t1_path,
)
from mmbrain.datasets.synthetic import make_synthetic_nsd

T = 30
GROUP = 'floc-faces'
WORLD = dict(
    n_subjects=1, trials_per_session=T, image_size=16, volume_scale=0.2, n_coco_extra=0, n_ade=0, progress=False
)


@pytest.fixture(scope='module')
def extras_world(tmp_path_factory):
    """A one-subject world with NSD's whole release: b1/b2/b3, ncsnr, meanbeta, T1, fsaverage (read-only)."""
    root = str(tmp_path_factory.mktemp('extras') / 'nsd')
    make_synthetic_nsd(root, n_sessions=2, nsd_extras=True, **WORLD)
    return root


def _zscore(v):
    return (v - v.mean(0)) / v.std(0)


def _volume_betas(root, version, sessions, ijk):
    """Expected z-scored betas of a voxel, read straight from NSD's h5py layout h5[t, k, j, i]."""
    out = []
    for s in sessions:
        with h5py.File(betas_path(root, 1, s, version=version), 'r') as f:
            out.append(_zscore(f['betas'][:, ijk[2], ijk[1], ijk[0]] / BETA_SCALE))
    return np.concatenate(out)


@pytest.mark.parametrize('version', ['b1', 'b2', 'b3'])
def test_each_betas_version_converts_its_own_files(extras_world, tmp_path, version):
    out = str(tmp_path / 'out')
    path = convert_nsd(extras_world, out, betas_version=version, rois=[GROUP], progress=False)[0]
    s = ConvertedSubject(path)
    assert s.betas_version == BETAS_VERSIONS[version]
    ijk = s.ijk(GROUP)
    col = len(ijk) // 2
    expected = _volume_betas(extras_world, BETAS_VERSIONS[version], (1, 2), tuple(int(c) for c in ijk[col]))
    np.testing.assert_allclose(s.betas(GROUP)[:, col], expected, atol=1e-4)
    other = 'b3' if version != 'b3' else 'b1'
    assert not np.allclose(
        expected, _volume_betas(extras_world, BETAS_VERSIONS[other], (1, 2), tuple(int(c) for c in ijk[col])), atol=1e-3
    )


def test_nsdgeneral_and_any_roi_file_by_name(extras_world, tmp_path):
    path = convert_nsd(extras_world, str(tmp_path / 'out'), rois=['nsdgeneral', 'streams'], progress=False)[0]
    s = ConvertedSubject(path)
    assert s.groups == ['nsdgeneral', 'streams']
    mask = np.asarray(nib.load(roi_path(extras_world, 1, 'nsdgeneral')).dataobj) > 0
    assert s.voxel_counts['nsdgeneral'] == mask.sum()
    assert mask[tuple(s.ijk('nsdgeneral').T)].all()
    assert s.label_names('nsdgeneral') == ['Unknown', 'nsdgeneral']
    assert s.rois_source == 'nsddata/ppdata/subj01/func1pt8mm/roi/{nsdgeneral,streams}.nii.gz'
    with pytest.raises(NSDFormatError, match='Kastner2015.nii.gz: file not found'):
        convert_nsd(extras_world, str(tmp_path / 'bad'), rois=['Kastner2015'], progress=False)


def test_official_ncsnr_is_used_when_present(extras_world, tmp_path):
    ncsnr = np.asarray(nib.load(ncsnr_path(extras_world, 1)).dataobj)
    s = ConvertedSubject(convert_nsd(extras_world, str(tmp_path / 'nsd'), progress=False)[0])
    assert s.ncsnr_source == 'nsd'
    for g in s.groups:
        np.testing.assert_allclose(s.ncsnr(g), ncsnr[tuple(s.ijk(g).T)], rtol=1e-6)
    e = ConvertedSubject(convert_nsd(extras_world, str(tmp_path / 'est'), ncsnr='estimate', progress=False)[0])
    assert e.ncsnr_source == 'estimated'
    assert not np.allclose(e.ncsnr(GROUP), s.ncsnr(GROUP))
    # The synthetic b1 adds noise to b3: NSD's (true) ncsnr of b1 is lower everywhere it is not 0.
    b1 = np.asarray(nib.load(ncsnr_path(extras_world, 1, version='b1')).dataobj)
    assert np.all(b1[ncsnr > 0] < ncsnr[ncsnr > 0])


def test_ncsnr_file_errors(world_without_extras, tmp_path):
    root = world_without_extras
    with pytest.raises(NSDFormatError, match=r'ncsnr\.nii\.gz: file not found'):
        convert_nsd(root, str(tmp_path / 'a'), ncsnr='nsd', progress=False)
    roi = nib.load(roi_path(root, 1, GROUP))
    nib.save(nib.Nifti1Image(np.ones(roi.shape[:2] + (roi.shape[2] - 1,), np.float32), roi.affine), ncsnr_path(root, 1))
    with pytest.raises(NSDFormatError, match='ncsnr grid .* does not match the ROI grid'):
        convert_nsd(root, str(tmp_path / 'b'), progress=False)
    nib.save(nib.Nifti1Image(np.ones(roi.shape, np.float32), roi.affine * 2), ncsnr_path(root, 1))
    with pytest.raises(NSDFormatError, match='affine differs'):
        convert_nsd(root, str(tmp_path / 'c'), progress=False)
    bad = np.ones(roi.shape, np.float32)
    bad[tuple(np.argwhere(np.asarray(roi.dataobj) > 0)[0])] = np.nan
    nib.save(nib.Nifti1Image(bad, roi.affine), ncsnr_path(root, 1))
    with pytest.raises(NSDFormatError, match='1 ROI voxels have a negative or non-finite ncsnr.*--ncsnr estimate'):
        convert_nsd(root, str(tmp_path / 'd'), progress=False)
    assert convert_nsd(root, str(tmp_path / 'e'), ncsnr='estimate', progress=False)
    os.remove(ncsnr_path(root, 1))
    assert not osp.exists(str(tmp_path / 'a')) or not os.listdir(str(tmp_path / 'a'))


@pytest.fixture
def world_without_extras(tmp_path):
    root = str(tmp_path / 'plain')
    make_synthetic_nsd(root, n_sessions=3, **WORLD)
    return root


def test_schema_2_keeps_what_maps_results_back(extras_world, tmp_path):
    s = ConvertedSubject(convert_nsd(extras_world, str(tmp_path / 'out'), progress=False)[0])
    roi = nib.load(roi_path(extras_world, 1, GROUP))
    assert s.version == 2
    np.testing.assert_allclose(s.affine, roi.affine)
    assert tuple(s.grid_shape) == roi.shape
    anatomy = nib.load(anatomy_path(s.path))  # the T1 (present in this world), on the same grid
    np.testing.assert_allclose(anatomy.affine, roi.affine)
    np.testing.assert_allclose(anatomy.get_fdata(), nib.load(t1_path(extras_world, 1)).get_fdata(), rtol=1e-6)


def test_a_file_beside_the_output_is_not_replaced_without_overwrite(extras_world, tmp_path):
    """subj01_anatomy.nii.gz already there (the user's own), subj01.h5 not: the conversion stops before writing."""
    out = tmp_path / 'out'
    out.mkdir()
    mine = out / 'subj01_anatomy.nii.gz'
    mine.write_bytes(b'my own file')
    with pytest.raises(FileExistsError, match=re.escape(str(mine))):
        convert_nsd(extras_world, str(out), progress=False)
    assert mine.read_bytes() == b'my own file' and sorted(os.listdir(out)) == ['subj01_anatomy.nii.gz']
    written = convert_nsd(extras_world, str(out), overwrite=True, progress=False)
    assert osp.isfile(written[0]) and nib.load(str(mine)).shape == nib.load(roi_path(extras_world, 1, GROUP)).shape


def test_native_fsaverage_surface_betas(extras_world, tmp_path):
    s = ConvertedSubject(
        convert_nsd(extras_world, str(tmp_path / 'out'), space='fsaverage', rois=['nsdgeneral', GROUP], progress=False)[
            0
        ]
    )
    assert s.space == 'fsaverage' and s.ncsnr_source == 'nsd'
    n = {h: int(nib.load(roi_path(extras_world, 1, GROUP, 'fsaverage', h)).shape[0]) for h in HEMIS}
    # the vertex counts have their own field (the writer's grid_shape check is not sidestepped any more)
    assert s.surface_vertices == (n['lh'], n['rh']) and s.grid_shape is None
    with h5py.File(s.path, 'r') as f:
        assert 'grid_shape' not in f.attrs and tuple(f.attrs['surface_vertices']) == (n['lh'], n['rh'])
    for g in s.groups:
        vertex, hemi = s.vertex(g), s.hemi(g)
        assert np.all(np.diff(hemi) >= 0)  # lh first, then rh, each ascending
        for h, name in enumerate(HEMIS):
            labels = np.asarray(nib.load(roi_path(extras_world, 1, g, 'fsaverage', name)).dataobj).reshape(-1)
            np.testing.assert_array_equal(vertex[hemi == h], np.flatnonzero(labels > 0))
            coords = nib.freesurfer.read_geometry(fsaverage_surface_path(extras_world, name))[0]
            np.testing.assert_allclose(s.xyz(g)[hemi == h], coords[vertex[hemi == h]], atol=1e-4)
    g = GROUP
    col = int(np.flatnonzero(s.hemi(g) == 1)[0])  # a right-hemisphere vertex
    v = int(s.vertex(g)[col])
    expected = np.concatenate(
        [
            _zscore(np.asarray(nib.load(betas_path(extras_world, 1, sess, 'fsaverage', hemi='rh')).dataobj)[v, 0, 0])
            for sess in (1, 2)
        ]
    )
    np.testing.assert_allclose(s.betas(g)[:, col], expected, atol=1e-4)
    ncsnr = np.asarray(nib.load(ncsnr_path(extras_world, 1, 'fsaverage', hemi='rh')).dataobj).reshape(-1)
    np.testing.assert_allclose(s.ncsnr(g)[col], ncsnr[v], rtol=1e-6)


def test_subject_specific_fsaverage_rois(extras_world, tmp_path):
    """floc-* ROIs mapped to fsaverage per subject (NSD ships them on the native surface only)."""
    import shutil

    rois = tmp_path / 'rois' / 'subj01'
    rois.mkdir(parents=True)
    for h in HEMIS:  # this subject's "mapped" ROI: the fsaverage one with its first labelled vertex removed
        img = nib.load(roi_path(extras_world, 1, GROUP, 'fsaverage', h))
        data = np.asarray(img.dataobj).copy()
        data[np.argwhere(data > 0)[0][0]] = 0
        nib.save(nib.MGHImage(data, img.affine), str(rois / f'{h}.{GROUP}.mgz'))
    shared = ConvertedSubject(
        convert_nsd(extras_world, str(tmp_path / 'a'), space='fsaverage', rois=[GROUP], progress=False)[0]
    )
    own = ConvertedSubject(
        convert_nsd(
            extras_world,
            str(tmp_path / 'b'),
            space='fsaverage',
            rois=[GROUP],
            surface_roi_dir=str(tmp_path / 'rois' / 'subj{subject:02d}'),
            progress=False,
        )[0]
    )
    assert own.voxel_counts[GROUP] == shared.voxel_counts[GROUP] - 2
    assert own.label_names(GROUP) == shared.label_names(GROUP)  # the subject's own ctab
    assert own.rois_source == str(rois / '{lh,rh}.{floc-faces}.mgz')
    shutil.rmtree(rois)
    with pytest.raises(NSDFormatError, match='--surface-roi-dir'):
        convert_nsd(
            extras_world,
            str(tmp_path / 'c'),
            space='fsaverage',
            rois=[GROUP],
            surface_roi_dir=str(rois),
            progress=False,
        )


def test_surface_errors_name_the_file(extras_world, tmp_path):
    with pytest.raises(NSDFormatError, match=r'lh\.Kastner2015\.mgz: file not found .*nsdcode'):
        convert_nsd(extras_world, str(tmp_path / 'a'), space='fsaverage', rois=['Kastner2015'], progress=False)
    with pytest.raises(NSDOptionError, match='unknown betas version'):
        convert_nsd(extras_world, str(tmp_path / 'b'), betas_version='b4', progress=False)


# ---------------------------------------------------------------------------------------------------------------
# Refusing silently wrong conversions
# ---------------------------------------------------------------------------------------------------------------
def test_a_session_missing_in_the_middle_is_named_not_truncated(world_without_extras, tmp_path):
    root = world_without_extras
    os.remove(betas_path(root, 1, 2))
    out = str(tmp_path / 'out')
    with pytest.raises(NSDFormatError) as err:
        convert_nsd(root, out, progress=False)
    assert betas_path(root, 1, 2) in str(err.value) and 'later sessions are present' in str(err.value)
    assert not osp.exists(out)
    with pytest.raises(NSDFormatError, match='betas_session02.hdf5: file not found'):
        convert_nsd(root, out, n_sessions=3, progress=False)
    # An explicit session list converts exactly those sessions, with their own trials of the design.
    s = ConvertedSubject(convert_nsd(root, out, sessions=[1, 3], progress=False)[0])
    np.testing.assert_array_equal(s.session, [1] * T + [3] * T)
    from scipy.io import loadmat

    mat = loadmat(expdesign_path(root))
    order = mat['masterordering'][0].astype(int) - 1
    trials = np.r_[0:T, 2 * T : 3 * T]
    np.testing.assert_array_equal(s.nsd_id, mat['subjectim'][0].astype(int)[order[trials]] - 1)


def _nan_world(root):
    """Float betas with NaN at two trials of one voxel of GROUP in session 2; returns that voxel's (i, j, k)."""
    path = betas_path(root, 1, 2)
    with h5py.File(path, 'r') as f:
        data = f['betas'][:].astype(np.float32)
    i, j, k = np.argwhere(np.asarray(nib.load(roi_path(root, 1, GROUP)).dataobj) > 0)[0]
    data[[3, 7], k, j, i] = np.nan
    os.remove(path)
    with h5py.File(path, 'w') as f:
        f.create_dataset('betas', data=data)
    return (int(i), int(j), int(k))


def test_nan_betas_are_refused_naming_subject_session_and_counts(world_without_extras, tmp_path):
    ijk = _nan_world(world_without_extras)
    out = str(tmp_path / 'out')
    with pytest.raises(NSDFormatError) as err:
        convert_nsd(world_without_extras, out, progress=False)
    msg = str(err.value)
    assert betas_path(world_without_extras, 1, 2) in msg
    assert 'subject 1, session 2: 2 NaN/inf betas in 2 trials and 1 voxels, first at trial 3' in msg
    assert f'voxel (i, j, k) = {ijk}' in msg and '--nan-policy drop-voxels' in msg
    assert not osp.exists(out) or not os.listdir(out)


def test_nan_policy_drop_voxels_leaves_out_exactly_those_voxels(world_without_extras, tmp_path, caplog):
    ijk = _nan_world(world_without_extras)
    clean = ConvertedSubject(
        convert_nsd(world_without_extras, str(tmp_path / 'clean'), sessions=[1, 3], progress=False)[0]
    )
    with caplog.at_level('WARNING', logger='mmbrain'):
        s = ConvertedSubject(
            convert_nsd(world_without_extras, str(tmp_path / 'out'), nan_policy='drop-voxels', progress=False)[0]
        )
    assert re.search('1 of .* voxels have NaN/inf betas', caplog.text)
    for g in s.groups:
        full = [tuple(v) for v in clean.ijk(g)]
        kept = [tuple(v) for v in s.ijk(g)]
        assert set(full) - set(kept) <= {ijk} and ijk not in kept
        assert np.isfinite(s.betas(g)).all()
    assert len(s.ijk(GROUP)) == len(clean.ijk(GROUP)) - 1


def test_surface_betas_are_read_in_spans(extras_world):
    from mmbrain.datasets.nsd_files import read_surface_betas

    path = betas_path(extras_world, 1, 1, 'fsaverage', hemi='lh')
    full = np.asarray(nib.load(path).dataobj)[:, 0, 0, :].T
    vertices = np.sort(np.random.default_rng(0).choice(full.shape[1], full.shape[1] // 3, replace=False))
    np.testing.assert_array_equal(read_surface_betas(path, vertices, block=7), full[:, vertices])
    assert read_surface_betas(path, vertices[:0]).shape == (full.shape[0], 0)


def test_fallbacks_for_missing_nsd_files_are_loud(world_without_extras, extras_world, tmp_path, caplog):
    """Without ncsnr.nii.gz and T1_to_func1pt8mm.nii.gz (e.g. skipped by a download filter) the converter estimates
    the ncsnr and uses a betas background: before, silently; now a WARNING naming each missing file."""
    with caplog.at_level('WARNING', logger='mmbrain'):
        s = ConvertedSubject(convert_nsd(world_without_extras, str(tmp_path / 'plain'), progress=False)[0])
    assert s.ncsnr_source == 'estimated'
    assert f"{ncsnr_path(world_without_extras, 1)}: not found, so subject 1's noise-ceiling SNR is ESTIMATED" in (
        caplog.text
    )
    assert f'{t1_path(world_without_extras, 1)}: not found, so the background' in caplog.text
    caplog.clear()
    with caplog.at_level('WARNING', logger='mmbrain'):
        convert_nsd(extras_world, str(tmp_path / 'extras'), progress=False)
    assert 'not found' not in caplog.text

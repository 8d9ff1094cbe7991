# Copyright (c) mmbrain contributors. All rights reserved.
"""The NSD converter: planted values come out where NSD's conventions say, and bad inputs fail cleanly."""

import glob
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy.io import loadmat, savemat

from mmbrain.datasets.converter import convert_nsd
from mmbrain.datasets.nsd_files import (
    BETA_SCALE,
    ROI_GROUPS,
    NSDFormatError,
    betas_path,
    ctab_path,
    expdesign_path,
    roi_path,
)
from mmbrain.datasets.synthetic import make_synthetic_nsd

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLI = osp.join(REPO, 'tools', 'dataset_converters', 'nsd_to_mmbrain.py')
T = 30  # trials per session of the private worlds
GROUP = 'floc-faces'


@pytest.fixture
def world(tmp_path):
    """A private one-subject world (2 sessions of 30 trials) that a test may damage."""
    root = str(tmp_path / 'nsd')
    make_synthetic_nsd(
        root,
        n_subjects=1,
        n_sessions=2,
        trials_per_session=T,
        image_size=16,
        volume_scale=0.2,
        n_coco_extra=0,
        n_ade=0,
        progress=False,
    )
    return root


def _design(root):
    mat = loadmat(expdesign_path(root))
    return mat['masterordering'][0].astype(int), mat['subjectim'].astype(int)


def _asymmetric_voxel(root):
    """A labelled voxel of GROUP whose (i, j, k) are all different (so any transpose would miss it)."""
    img = nib.load(roi_path(root, 1, GROUP))
    labels = np.asarray(img.dataobj)
    for i, j, k in np.argwhere(labels > 0):
        if len({i, j, k}) == 3:
            return (int(i), int(j), int(k)), labels, img.affine
    raise AssertionError('no asymmetric voxel')


def _plant(root, session, ijk, values):
    """Write ``values`` (one per trial) at voxel (i, j, k): NSD's h5py order is betas[t, k, j, i]."""
    i, j, k = ijk
    with h5py.File(betas_path(root, 1, session), 'r+') as f:
        f['betas'][:, k, j, i] = np.asarray(values, np.int16)


def _column(labels, ijk):
    """Column of voxel ijk in the converted group: rank in ascending (i, j, k) order of the labelled voxels."""
    voxels = [tuple(v) for v in np.argwhere(labels > 0)]
    assert voxels == sorted(voxels)
    return voxels.index(ijk)


def _load_cli():
    spec = importlib.util.spec_from_file_location('nsd_to_mmbrain', CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_output_left(out):
    return not osp.exists(out) or (
        not glob.glob(osp.join(out, 'subj*.h5')) and not glob.glob(osp.join(out, '.*partial'))
    )


@pytest.mark.parametrize('zscore', [False, True])
def test_planted_trials_land_at_row_column_ijk_xyz(world, zscore):
    ijk, labels, affine = _asymmetric_voxel(world)
    rng = np.random.default_rng(1)
    planted = {s: rng.integers(-3000, 3000, T) for s in (1, 2)}
    for s, values in planted.items():
        _plant(world, s, ijk, values)
    out = osp.join(world, 'out')
    convert_nsd(world, out, zscore=zscore, progress=False)
    order, subjectim = _design(world)
    col = _column(labels, ijk)
    with h5py.File(osp.join(out, 'subj01.h5'), 'r') as f:
        g = f[f'rois/{GROUP}']
        assert tuple(g['ijk'][col]) == ijk
        np.testing.assert_allclose(g['xyz'][col], nib.affines.apply_affine(affine, ijk), atol=1e-4)
        assert g['label'][col] == labels[ijk]
        assert f.attrs['zscore'] == ('session' if zscore else 'none') and not f.attrs['averaged']
        for s, values in planted.items():
            expected = values / BETA_SCALE
            if zscore:
                expected = (expected - expected.mean()) / expected.std()
            rows = slice((s - 1) * T, s * T)
            np.testing.assert_allclose(g['betas'][rows, col], expected, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(f['session'][rows], s)
        # Row t is global trial t: its image is subjectim[0, masterordering[t] - 1] - 1 (1-based MATLAB).
        np.testing.assert_array_equal(f['nsd_id'][:], subjectim[0, order[: 2 * T] - 1] - 1)


@pytest.mark.parametrize('zscore', [False, True])
def test_planted_repetitions_average_into_the_image_row(world, zscore):
    ijk, labels, _ = _asymmetric_voxel(world)
    rng = np.random.default_rng(2)
    for s in (1, 2):
        _plant(world, s, ijk, rng.integers(-3000, 3000, T))
    # The expectation, computed independently from the raw files at h5[t, k, j, i].
    raw = []
    for s in (1, 2):
        with h5py.File(betas_path(world, 1, s), 'r') as f:
            v = f['betas'][:, ijk[2], ijk[1], ijk[0]] / BETA_SCALE
        raw.append((v - v.mean()) / v.std() if zscore else v)
    raw = np.concatenate(raw)
    order, subjectim = _design(world)
    trial_ids = subjectim[0, order[: 2 * T] - 1] - 1
    out = osp.join(world, 'out')
    convert_nsd(world, out, zscore=zscore, average_repeats=True, progress=False)
    col = _column(labels, ijk)
    with h5py.File(osp.join(out, 'subj01.h5'), 'r') as f:
        ids = f['nsd_id'][:]
        assert f.attrs['averaged'] and np.all(f['session'][:] == 0)
        np.testing.assert_array_equal(ids, np.unique(trial_ids))
        np.testing.assert_array_equal(f['n_repeats'][:], [np.sum(trial_ids == n) for n in ids])
        expected = np.array([raw[trial_ids == n].mean() for n in ids])
        np.testing.assert_allclose(f[f'rois/{GROUP}/betas'][:, col], expected, rtol=1e-5, atol=1e-5)


def test_every_group_and_the_design_are_converted(nsd_world):
    with h5py.File(nsd_world.converted_file(2), 'r') as f, h5py.File(nsd_world.converted_file(2, True), 'r') as a:
        attrs = dict(f.attrs)
        assert {k: attrs[k] for k in ('format', 'space', 'zscore')} == dict(
            format='mmbrain-nsd', space='func1pt8mm', zscore='session'
        )
        assert int(attrs['version']) == 2 and int(attrs['subject']) == 2 and not attrs['averaged']
        assert list(f['rois']) == sorted(ROI_GROUPS)
        n = nsd_world.world['n_sessions'] * nsd_world.world['trials_per_session']
        assert f['nsd_id'].dtype == np.int32 and f['session'].dtype == np.int16 and f['shared1000'].dtype == bool
        assert f['nsd_id'].shape == (n,)
        assert f['shared1000'][:].sum() == 3 * nsd_world.world['n_shared']  # every shared image, 3 repetitions
        for g in ROI_GROUPS:
            grp = f[f'rois/{g}']
            v = grp['ijk'].shape[0]
            assert grp['betas'].shape == (n, v) and grp['betas'].dtype == np.float32
            assert grp['ijk'].dtype == np.int16 and grp['xyz'].dtype == np.float32 and grp['label'].dtype == np.int8
            assert grp['betas'].chunks is None  # contiguous: one read per row
            assert list(grp.attrs['label_names'])[0] == 'Unknown'
            assert a[f'rois/{g}/betas'].shape == (nsd_world.world['n_images'], v)
            # z-scored per session: zero mean, unit variance within each session
            betas = grp['betas'][:]
            for s in range(nsd_world.world['n_sessions']):
                rows = betas[f['session'][:] == s + 1]
                np.testing.assert_allclose(rows.mean(0), 0, atol=1e-4)
                np.testing.assert_allclose(rows.std(0), 1, atol=1e-3)


def test_estimated_ncsnr_tracks_the_ground_truth(nsd_world):
    est, true = [], []
    for s in nsd_world.subjects:
        truth = np.load(nsd_world.ground_truth(s))
        with h5py.File(nsd_world.converted_file(s), 'r') as f:
            for g in ROI_GROUPS:
                np.testing.assert_array_equal(f[f'rois/{g}/ijk'][:], truth[f'{g}/ijk'])
                est.append(f[f'rois/{g}/ncsnr'][:])
                true.append(truth[f'{g}/ncsnr'])
    est, true = np.concatenate(est), np.concatenate(true)
    assert np.corrcoef(est, true)[0, 1] > 0.6
    assert abs(np.median(est) - np.median(true)) < 0.25 * np.median(true)


# ---------------------------------------------------------------------------------------------------------------
# Bad inputs: a clear message naming the file, a non-zero exit, no output.
# ---------------------------------------------------------------------------------------------------------------
def _rewrite_betas(root, session, data):
    path = betas_path(root, 1, session)
    os.remove(path)
    with h5py.File(path, 'w') as f:
        f.create_dataset('betas', data=data)
    return path


def _damage_design(root, **changes):
    mat = {k: v for k, v in loadmat(expdesign_path(root)).items() if not k.startswith('__')}
    for key, fn in changes.items():
        mat[key] = fn(mat[key])
    savemat(expdesign_path(root), mat)
    return expdesign_path(root)


def _damage(kind, root):
    """Apply one kind of damage; return (file the message must name, words it must contain)."""
    if kind == 'missing betas':
        path = betas_path(root, 1, 2)
        os.remove(path)
        return path, 'file not found'
    if kind == 'missing roi':
        path = roi_path(root, 1, 'floc-words')
        os.remove(path)
        return path, 'file not found'
    if kind == 'missing ctab':
        path = ctab_path(root, 1, 'streams')
        os.remove(path)
        return path, 'file not found'
    if kind == 'missing design':
        os.remove(expdesign_path(root))
        return expdesign_path(root), 'file not found'
    with h5py.File(betas_path(root, 1, 2), 'r') as f:
        good = f['betas'][:]
    if kind == 'betas grid':
        return _rewrite_betas(root, 2, good[:, :, :, :-1]), 'does not match the ROI grid'
    if kind == 'betas transposed':  # (trials, X, Y, Z), as if read from the NIfTI twin
        return _rewrite_betas(root, 2, np.ascontiguousarray(good.transpose(0, 3, 2, 1))), 'does not match'
    if kind == 'betas dtype':
        return _rewrite_betas(root, 2, good.astype(np.int32)), 'dtype int32'
    if kind == 'betas ndim':
        return _rewrite_betas(root, 2, good[0]), 'expected 4-D'
    if kind == 'betas trials':
        return _rewrite_betas(root, 2, good[:-1]), f'{T - 1} trials, but the first session has {T}'
    if kind == 'betas nan':
        bad = good.astype(np.float32)
        i, j, k = np.argwhere(nib.load(roi_path(root, 1, GROUP)).get_fdata() > 0)[0]
        bad[3, k, j, i] = np.nan
        return _rewrite_betas(root, 2, bad), f'first at trial 3, voxel (i, j, k) = ({i}, {j}, {k})'
    if kind == 'betas no dataset':
        path = betas_path(root, 1, 2)
        with h5py.File(path, 'r+') as f:
            f.move('betas', 'other')
        return path, 'dataset "betas" missing'
    if kind == 'roi grid':
        path = roi_path(root, 1, 'streams')
        img = nib.load(path)
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[:-1], img.affine), path)
        return path, 'grid'
    if kind == 'roi nan':
        path = roi_path(root, 1, 'streams')
        img = nib.load(path)
        data = np.asarray(img.dataobj).astype(np.float32)
        data[0, 0, 0] = np.nan
        nib.save(nib.Nifti1Image(data, img.affine), path)
        return path, 'NaN'
    if kind == 'roi unnamed label':
        path = ctab_path(root, 1, GROUP)
        with open(path) as f:
            lines = f.readlines()
        with open(path, 'w') as f:
            f.writelines(lines[:-1])
        return path, f'no name for labels [{len(lines) - 1}]'
    if kind == 'design range':
        return _damage_design(
            root, masterordering=lambda m: np.where(np.arange(m.size) == 5, 0, m)
        ), 'masterordering values must be 1-based'
    if kind == 'design nsd range':
        return _damage_design(root, subjectim=lambda m: m + 10**6), 'subjectim values must be 1-based nsd indices'
    if kind == 'design short':
        return _damage_design(root, masterordering=lambda m: m[:, :T]), 'masterordering has 30 trials'
    raise ValueError(kind)


KINDS = [
    'missing betas',
    'missing roi',
    'missing ctab',
    'missing design',
    'betas grid',
    'betas transposed',
    'betas dtype',
    'betas ndim',
    'betas trials',
    'betas nan',
    'betas no dataset',
    'roi grid',
    'roi nan',
    'roi unnamed label',
    'design range',
    'design nsd range',
    'design short',
]


@pytest.mark.parametrize('kind', KINDS)
def test_bad_input_fails_with_a_message_naming_the_file(world, kind, capsys):
    main = _load_cli().main
    path, words = _damage(kind, world)
    out = osp.join(world, 'out')
    assert main(['--nsd-root', world, '--out', out, '--sessions', '2', '--quiet']) == 1  # a data error
    err = capsys.readouterr().err
    assert path in err and words in err, err
    assert _no_output_left(out)


def test_usage_errors_exit_2(world, capsys):
    main = _load_cli().main
    with pytest.raises(SystemExit) as exc:
        main(['--nsd-root', world, '--out', osp.join(world, 'out'), '--betas-version', 'b4'])
    assert exc.value.code == 2
    assert main(['--nsd-root', world, '--out', osp.join(world, 'out'), '--sessions', '0', '--quiet']) == 2
    assert '--sessions must be positive' in capsys.readouterr().err


@pytest.mark.slow
def test_help_does_not_import_torch():
    code = (
        'import runpy, sys; sys.argv = ["nsd_to_mmbrain.py", "--help"]\n'
        f'try:\n    runpy.run_path({CLI!r}, run_name="__main__")\nexcept SystemExit:\n    pass\n'
        'assert "torch" not in sys.modules and "mmengine" not in sys.modules, sorted(sys.modules)'
    )
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and '--betas-version' in proc.stdout, proc.stderr


@pytest.mark.slow
def test_bad_input_from_the_command_line(world):
    path, words = _damage('betas nan', world)
    out = osp.join(world, 'out')
    proc = subprocess.run(
        [sys.executable, CLI, '--nsd-root', world, '--out', out, '--quiet'], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode != 0
    assert path in proc.stderr and words in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert _no_output_left(out)


@pytest.mark.slow
def test_existing_output_is_never_overwritten_silently(world):
    out = osp.join(world, 'out')
    first = convert_nsd(world, out, progress=False)[0]
    with open(first, 'rb') as f:
        before = f.read()
    proc = subprocess.run(
        [sys.executable, CLI, '--nsd-root', world, '--out', out, '--no-zscore', '--quiet'],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode != 0 and first in proc.stderr and '--overwrite' in proc.stderr
    with open(first, 'rb') as f:
        assert f.read() == before
    # A failed overwrite keeps the old file too; a successful one replaces it.
    _damage('betas dtype', world)
    with pytest.raises(NSDFormatError):
        convert_nsd(world, out, zscore=False, overwrite=True, progress=False)
    with open(first, 'rb') as f:
        assert f.read() == before
    assert not glob.glob(osp.join(out, '.*partial'))


def test_an_interrupted_conversion_leaves_no_file(world, monkeypatch):
    import mmbrain.datasets.converter as converter

    out = osp.join(world, 'out')

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(converter, 'read_voxels', interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_nsd(world, out, progress=False)
    assert _no_output_left(out)


@pytest.mark.parametrize('roi_dir', ['rois/{x}', 'rois/{0}', 'rois/{subject', 'rois/{subject.x}'])
def test_a_bad_surface_roi_dir_is_a_usage_error(world, roi_dir, capsys):
    """Before: a bare KeyError / IndexError / ValueError from str.format."""
    out = osp.join(world, 'out_roi_dir')
    args = ['--nsd-root', world, '--out', out, '--space', 'fsaverage', '--surface-roi-dir', roi_dir, '--quiet']
    assert _load_cli().main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: --surface-roi-dir {roi_dir!r}: ') and 'the only field is {subject}' in err
    assert not osp.exists(out)

# Copyright (c) mmbrain contributors. All rights reserved.
"""The Algonauts 2023 reader, on a miniature challenge layout written here."""

import importlib.util
import os
import os.path as osp

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
from nibabel.freesurfer import write_geometry

from mmbrain.datasets import NSDDataset, brain_collate
from mmbrain.datasets.algonauts import convert_algonauts
from mmbrain.datasets.converted_file import subject_file_name, subject_tag
from mmbrain.datasets.nsd_files import ROI_GROUPS, ROI_LABEL_NAMES, NSDFormatError

N_FSAVERAGE = 40  # vertices per hemisphere of the miniature "fsaverage" (163842 in the real one)
CLI = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    'tools',
    'dataset_converters',
    'algonauts_to_mmbrain.py',
)


def _write_subject(root, subject, nsd_ids, rng):
    sub = osp.join(root, subject_tag(subject))
    truth = dict(nsd_ids=np.array(nsd_ids), hemis={})
    images = osp.join(sub, 'training_split', 'training_images')
    os.makedirs(images)
    for row, nsd_id in enumerate(nsd_ids, 1):
        cv2.imwrite(osp.join(images, f'train-{row:04d}_nsd-{nsd_id:05d}.png'), np.zeros((4, 4, 3), np.uint8))
    os.makedirs(osp.join(sub, 'training_split', 'training_fmri'))
    os.makedirs(osp.join(sub, 'roi_masks'))
    for hemi, n_challenge in (('lh', 12), ('rh', 10)):
        mask = np.zeros(N_FSAVERAGE, np.int64)
        vertices = np.sort(rng.choice(N_FSAVERAGE, n_challenge, replace=False))
        mask[vertices] = 1
        np.save(osp.join(sub, 'roi_masks', f'{hemi}.all-vertices_fsaverage_space.npy'), mask)
        fmri = rng.normal(size=(len(nsd_ids), n_challenge)).astype(np.float32)
        np.save(osp.join(sub, 'training_split', 'training_fmri', f'{hemi}_training_fmri.npy'), fmri)
        labels = {}
        for group in ROI_GROUPS:
            labels[group] = rng.integers(0, len(ROI_LABEL_NAMES[group]), n_challenge)
            np.save(osp.join(sub, 'roi_masks', f'{hemi}.{group}_challenge_space.npy'), labels[group])
        truth['hemis'][hemi] = dict(vertices=vertices, fmri=fmri, labels=labels)
    for group in ROI_GROUPS:
        np.save(osp.join(sub, 'roi_masks', f'mapping_{group}.npy'), dict(enumerate(ROI_LABEL_NAMES[group])))
    return truth


@pytest.fixture
def algonauts(tmp_path):
    rng = np.random.default_rng(0)
    root = str(tmp_path / 'algonauts')
    truth = {1: _write_subject(root, 1, [3, 17, 5, 40, 22, 9], rng), 2: _write_subject(root, 2, [17, 8, 3, 31, 9], rng)}
    fsaverage = str(tmp_path / 'fsaverage')
    os.makedirs(osp.join(fsaverage, 'surf'))
    coords = {}
    for hemi in ('lh', 'rh'):
        coords[hemi] = rng.normal(size=(N_FSAVERAGE, 3)) * 50
        faces = np.array([[i, i + 1, i + 2] for i in range(N_FSAVERAGE - 2)], np.int32)
        write_geometry(osp.join(fsaverage, 'surf', f'{hemi}.white'), coords[hemi], faces)
    stim_info = str(tmp_path / 'nsd_stim_info_merged.csv')
    pd.DataFrame(dict(nsdId=np.arange(50), shared1000=np.isin(np.arange(50), [3, 5, 31]))).to_csv(stim_info)
    return dict(root=root, truth=truth, fsaverage=fsaverage, coords=coords, stim_info=stim_info, tmp=tmp_path)


def test_vertices_land_at_their_columns_with_surface_coordinates(algonauts):
    out = str(algonauts['tmp'] / 'out')
    convert_algonauts(algonauts['root'], out, fsaverage=algonauts['fsaverage'], stim_info=algonauts['stim_info'])
    for s, truth in algonauts['truth'].items():
        with h5py.File(osp.join(out, subject_file_name(s)), 'r') as f:
            assert f.attrs['space'] == 'fsaverage' and f.attrs['averaged'] and f.attrs['zscore'] == 'session'
            np.testing.assert_array_equal(f['nsd_id'][:], truth['nsd_ids'])
            np.testing.assert_array_equal(f['shared1000'][:], np.isin(truth['nsd_ids'], [3, 5, 31]))
            for g in ROI_GROUPS:
                grp = f[f'rois/{g}']
                cols = 0
                for h, hemi in enumerate(('lh', 'rh')):
                    t = truth['hemis'][hemi]
                    sel = np.flatnonzero(t['labels'][g] > 0)
                    part = slice(cols, cols + len(sel))
                    np.testing.assert_array_equal(grp['vertex'][part], t['vertices'][sel])
                    np.testing.assert_array_equal(grp['hemi'][part], h)
                    np.testing.assert_array_equal(grp['label'][part], t['labels'][g][sel])
                    np.testing.assert_array_equal(grp['betas'][:, part], t['fmri'][:, sel])
                    np.testing.assert_allclose(
                        grp['xyz'][part], algonauts['coords'][hemi][t['vertices'][sel]], rtol=1e-5
                    )
                    cols += len(sel)
                assert grp['betas'].shape == (len(truth['nsd_ids']), cols) and 'ijk' not in grp
                assert list(grp.attrs['label_names']) == list(ROI_LABEL_NAMES[g][: grp['label'][:].max() + 1])


def test_without_surface_no_coordinates_and_the_dataset_still_loads(algonauts, caplog):
    out = str(algonauts['tmp'] / 'out')
    with caplog.at_level('WARNING', logger='mmbrain'):
        convert_algonauts(algonauts['root'], out)
    assert 'no --fsaverage' in caplog.text
    with h5py.File(osp.join(out, 'subj01.h5'), 'r') as f:
        assert all('xyz' not in f[f'rois/{g}'] for g in ROI_GROUPS)
        np.testing.assert_array_equal(f['shared1000'][:], np.isin(f['nsd_id'][:], [3, 9, 17]))  # seen by both
    stimuli = str(algonauts['tmp'] / 'nsd_stimuli.hdf5')
    with h5py.File(stimuli, 'w') as f:
        f.create_dataset('imgBrick', data=np.zeros((50, 8, 8, 3), np.uint8))
    ds = NSDDataset(
        out,
        subjects=[1, 2],
        split='all',
        stimuli_file=stimuli,
        pipeline=[
            dict(type='LoadNSDStimulus', img_size=16),
            dict(type='LoadNSDResponses'),
            dict(type='PackBrainInputs'),
        ],
    )
    batch = brain_collate([ds[0], ds[len(ds) - 1]])
    assert 'xyz' not in batch['inputs'] and batch['inputs']['img'].shape == (2, 3, 16, 16)
    assert batch['inputs']['subject_index'].tolist() == [0, 1]


def test_bad_layouts_are_reported(algonauts, capsys):
    root = algonauts['root']
    spec = importlib.util.spec_from_file_location('algonauts_to_mmbrain', CLI)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    fmri = osp.join(root, 'subj02', 'training_split', 'training_fmri', 'rh_training_fmri.npy')
    np.save(fmri, np.zeros((5, 9), np.float32))
    out = str(algonauts['tmp'] / 'out')
    assert cli.main(['--root', root, '--out', out]) == 1  # bad data: exit 1
    err = capsys.readouterr().err
    assert fmri in err and 'expected (images, 10)' in err
    assert not osp.exists(osp.join(out, 'subj01.h5'))
    np.save(fmri, np.full((5, 10), np.nan, np.float32))
    with pytest.raises(NSDFormatError, match='NaN'):
        convert_algonauts(root, out, subjects=[2], fsaverage=algonauts['fsaverage'])
    assert not os.listdir(out)
    os.remove(osp.join(root, 'subj01', 'roi_masks', 'mapping_floc-faces.npy'))
    with pytest.raises(NSDFormatError, match='mapping_floc-faces.npy: file not found'):
        convert_algonauts(root, out, subjects=[1])
    with pytest.raises(NSDFormatError, match='surf/lh.pial: file not found'):
        convert_algonauts(root, out, subjects=[2], fsaverage=algonauts['fsaverage'], surface='pial')


@pytest.mark.parametrize('damage', ['pickled', 'truncated'])
def test_a_pickled_or_truncated_fmri_file_is_named(algonauts, damage):
    """Before: numpy's "Array can't be memory-mapped" / "mmap length is greater than file size", without the file."""
    fmri = osp.join(algonauts['root'], 'subj01', 'training_split', 'training_fmri', 'lh_training_fmri.npy')
    if damage == 'pickled':
        np.save(fmri, np.array([{'a': 1}] * 5, dtype=object), allow_pickle=True)
    else:
        with open(fmri, 'r+b') as f:
            f.truncate(200)
    with pytest.raises(NSDFormatError, match=rf'^{fmri}: not a readable numeric .npy file'):
        convert_algonauts(algonauts['root'], str(algonauts['tmp'] / 'out'), subjects=[1])


def test_nan_in_the_last_subject_publishes_no_subject(algonauts):
    """Before: subj01.h5 was published, then subject 2's NaN stopped the run."""
    fmri = osp.join(algonauts['root'], 'subj02', 'training_split', 'training_fmri', 'rh_training_fmri.npy')
    values = np.load(fmri)
    values[-1, 0] = np.nan
    np.save(fmri, values)
    out = algonauts['tmp'] / 'out'
    with pytest.raises(NSDFormatError, match='rh_training_fmri.npy: NaN or inf values'):
        convert_algonauts(algonauts['root'], str(out), subjects=[1, 2], fsaverage=algonauts['fsaverage'])
    assert not out.exists() or not os.listdir(out)

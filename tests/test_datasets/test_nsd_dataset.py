# Copyright (c) mmbrain contributors. All rights reserved.
"""NSDDataset, its transforms and brain_collate, in one process and in DataLoader workers."""

import h5py
import numpy as np
import pytest
import torch
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmbrain.datasets import NSDDataset, brain_collate, row_reader
from mmbrain.datasets.nsd_files import ROI_GROUPS
from mmbrain.registry import DATASETS

PIPELINE = [dict(type='LoadNSDStimulus', img_size=None), dict(type='LoadNSDResponses'), dict(type='PackBrainInputs')]


def _dataset(world, **kwargs):
    cfg = dict(type='NSDDataset', data_root=world.converted_dir, subjects=world.subjects, pipeline=PIPELINE)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def _rows(path):
    with h5py.File(path, 'r') as f:
        return f['nsd_id'][:], f['session'][:], f['shared1000'][:]


def test_splits_by_shared1000_and_by_session(nsd_world):
    train, test = _dataset(nsd_world, split='train'), _dataset(nsd_world, split='test')
    n_shared = 0
    for s in nsd_world.subjects:
        n_shared += _rows(nsd_world.converted_file(s))[2].sum()
    n_all = len(nsd_world.subjects) * nsd_world.world['n_sessions'] * nsd_world.world['trials_per_session']
    assert len(test) == n_shared and len(train) == n_all - n_shared
    assert all(test.get_data_info(i)['shared1000'] for i in range(len(test)))
    assert not any(train.get_data_info(i)['shared1000'] for i in range(len(train)))
    # one subject only, test = session 2
    by_session = _dataset(nsd_world, subjects=[2], split='test', split_by='session', test_sessions=[2])
    nsd_id, session, _ = _rows(nsd_world.converted_file(2))
    infos = [by_session.get_data_info(i) for i in range(len(by_session))]
    assert [d['row'] for d in infos] == list(np.flatnonzero(session == 2))
    assert all(d['subject'] == 2 and d['nsd_id'] == nsd_id[d['row']] for d in infos)
    with pytest.raises(ValueError, match='single-trial'):
        _dataset(nsd_world, data_root=nsd_world.averaged_dir, split='train', split_by='session', test_sessions=[1])
    with pytest.raises(ValueError, match='test_sessions'):
        _dataset(nsd_world, split='train', split_by='session')


def test_sample_matches_the_files(nsd_world):
    ds = _dataset(nsd_world, subjects=[3], split='all')
    idx = 17
    sample = ds[idx]
    info = ds.get_data_info(idx)
    inputs, meta = sample['inputs'], sample['data_samples']
    with h5py.File(nsd_world.stimuli_file, 'r') as f:
        rgb = f['imgBrick'][info['nsd_id']]
    assert inputs['img'].dtype == torch.uint8
    np.testing.assert_array_equal(inputs['img'].numpy(), rgb[..., ::-1].transpose(2, 0, 1))  # BGR, CHW
    with h5py.File(nsd_world.converted_file(3), 'r') as f:
        for g in ROI_GROUPS:
            assert inputs['fmri'][g].dtype == torch.float32
            np.testing.assert_array_equal(inputs['fmri'][g].numpy(), f[f'rois/{g}/betas'][info['row']])
            np.testing.assert_array_equal(inputs['xyz'][g].numpy(), f[f'rois/{g}/xyz'][:])
    assert list(inputs['fmri']) == list(ROI_GROUPS)
    assert (meta.subject, meta.nsd_id, meta.session, meta.sample_idx) == (3, info['nsd_id'], info['session'], idx)
    assert meta.shared1000 == info['shared1000']
    # coordinates are one tensor per subject, shared by its samples
    assert ds[idx + 1]['inputs']['xyz']['streams'] is inputs['xyz']['streams']


def test_resize_and_averaged_rows(nsd_world):
    ds = _dataset(
        nsd_world,
        data_root=nsd_world.averaged_dir,
        split='test',
        subjects=[1],
        pipeline=[
            dict(type='LoadNSDStimulus', img_size=40),
            dict(type='LoadNSDResponses', groups=['streams']),
            dict(type='PackBrainInputs'),
        ],
    )
    assert len(ds) == nsd_world.world['n_shared']
    sample = ds[0]
    assert sample['inputs']['img'].shape == (3, 40, 40)
    assert list(sample['inputs']['fmri']) == ['streams']
    with h5py.File(nsd_world.converted_file(1, averaged=True), 'r') as f:
        row = ds.get_data_info(0)['row']
        np.testing.assert_array_equal(sample['inputs']['fmri']['streams'].numpy(), f['rois/streams/betas'][row])


def test_collate_pads_mixed_subjects(nsd_world):
    ds = _dataset(nsd_world, split='all')
    subject_of = ds.sample_subjects()
    picks = [int(np.flatnonzero(subject_of == s)[k]) for s, k in ((2, 0), (1, 0), (2, 1), (3, 0))]
    samples = [ds[i] for i in picks]
    batch = brain_collate(samples)
    inputs = batch['inputs']
    assert [d.subject for d in batch['data_samples']] == [2, 1, 2, 3]
    assert inputs['subject_index'].tolist() == [0, 1, 0, 2]
    assert inputs['img'].shape[0] == 4
    for g in ROI_GROUPS:
        counts = [s['inputs']['fmri'][g].shape[0] for s in samples]
        vmax = max(counts)
        assert inputs['fmri'][g].shape == (4, vmax) and inputs['fmri_mask'][g].shape == (4, vmax)
        assert inputs['xyz'][g].shape == (3, vmax, 3)
        assert inputs['fmri_mask'][g].sum(1).tolist() == counts
        for b, s in enumerate(samples):
            v = counts[b]
            assert torch.equal(inputs['fmri'][g][b, :v], s['inputs']['fmri'][g])
            assert not inputs['fmri'][g][b, v:].any()
            row = inputs['subject_index'][b]
            assert torch.equal(inputs['xyz'][g][row, :v], s['inputs']['xyz'][g])
            assert not inputs['xyz'][g][row, v:].any()
    # Subjects really differ in voxel counts, so the padding above was exercised.
    assert len({s['inputs']['fmri']['streams'].shape[0] for s in samples}) > 1


@pytest.mark.slow
def test_dataloader_with_two_workers_opens_files_only_in_workers(nsd_world):
    row_reader._cache.clear()
    cfg = dict(
        batch_size=16,
        num_workers=2,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='mmbrain.brain_collate'),
        dataset=dict(
            type='NSDDataset',
            data_root=nsd_world.converted_dir,
            subjects=nsd_world.subjects,
            split='all',
            pipeline=PIPELINE,
        ),
    )
    with DefaultScope.overwrite_default_scope('mmbrain'):  # as configs' default_scope='mmbrain' does
        loader = Runner.build_dataloader(cfg, seed=0)
    seen = []
    for batch in loader:
        assert batch['inputs']['img'].dtype == torch.uint8
        seen.extend((s.subject, s.row) for s in batch['data_samples'])
    assert sorted(seen) == sorted(
        (d['subject'], d['row']) for d in map(loader.dataset.get_data_info, range(len(loader.dataset)))
    )
    assert not row_reader._cache, 'the main process opened HDF5 files (they must open in the workers)'
    assert MMENGINE_FUNCTIONS.get('mmbrain.brain_collate') is brain_collate


def test_bad_configuration_is_reported(nsd_world, tmp_path):
    with pytest.raises(ValueError, match='split must be'):
        NSDDataset(nsd_world.converted_dir, split='validation')
    with pytest.raises(FileNotFoundError, match='subj07.h5'):
        NSDDataset(nsd_world.converted_dir, subjects=[7])
    with pytest.raises(FileNotFoundError, match='stimulus file'):
        NSDDataset(nsd_world.converted_dir, stimuli_file=str(tmp_path / 'none.hdf5'))
    with pytest.raises(ValueError, match='no ROI groups'):
        NSDDataset(nsd_world.converted_dir, groups=['floc-faces', 'hippocampus'])

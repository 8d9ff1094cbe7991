# Copyright (c) mmbrain contributors. All rights reserved.
"""``NSDDataset(pairing='shuffled')``: the negative control pairs each image with another image's response."""

import os.path as osp
from collections import Counter, defaultdict

import h5py
import numpy as np
import pytest
from _helpers import REPO
from mmengine.config import Config

from mmbrain.datasets.nsd_dataset import derange_rows
from mmbrain.registry import DATASETS

PIPELINE = [dict(type='LoadNSDStimulus', img_size=None), dict(type='LoadNSDResponses'), dict(type='PackBrainInputs')]
SHUFFLED_CONFIGS = {
    'configs/demo/brainformer_convnext-mini_shuffled-pairing_1xb32-600i_synthetic-demo.py': (
        'configs/demo/brainformer_convnext-mini_1xb32-600i_synthetic-demo.py'
    ),
    'configs/pretrain/brainformer_convnext-s_shuffled-pairing_8xb64-coslr-100e_nsd.py': (
        'configs/pretrain/brainformer_convnext-s_8xb64-coslr-100e_nsd.py'
    ),
    'configs/pretrain/brainformer_swin-s_shuffled-pairing_8xb64-coslr-100e_nsd.py': (
        'configs/pretrain/brainformer_swin-s_8xb64-coslr-100e_nsd.py'
    ),
}


def _dataset(world, **kwargs):
    cfg = dict(type='NSDDataset', data_root=world.converted_dir, subjects=world.subjects, pipeline=PIPELINE)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def _infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def _file_nsd_ids(world):
    out = {}
    for s in world.subjects:
        with h5py.File(world.converted_file(s), 'r') as f:
            out[s] = f['nsd_id'][:]
    return out


@pytest.mark.parametrize('split', ['train', 'all'])
def test_no_row_keeps_its_own_image_and_marginals_are_unchanged(nsd_world, split):
    paired, shuffled = (
        _infos(_dataset(nsd_world, split=split)),
        _infos(_dataset(nsd_world, split=split, pairing='shuffled')),
    )
    file_ids = _file_nsd_ids(nsd_world)
    assert len(paired) == len(shuffled)
    # the images shown, in order, and the subjects are untouched
    assert [(p['subject'], p['nsd_id']) for p in paired] == [(s['subject'], s['nsd_id']) for s in shuffled]
    for s in shuffled:
        assert s['fmri_nsd_id'] == file_ids[s['subject']][s['row']]  # the image the response belongs to
        assert s['fmri_nsd_id'] != s['nsd_id']  # never its own image, nor a repetition of it
    # every response row of the split is read exactly once: the same multiset of responses per subject
    for subject in nsd_world.subjects:
        assert sorted(d['row'] for d in paired if d['subject'] == subject) == sorted(
            d['row'] for d in shuffled if d['subject'] == subject
        )
    # repetitions of an image carry the responses of one other image (every image has 3 rows in this world)
    targets = defaultdict(set)
    for s in shuffled:
        targets[s['subject'], s['nsd_id']].add(s['fmri_nsd_id'])
    assert all(len(t) == 1 for t in targets.values())
    # ... and it is a permutation of the images: each image's responses are used by exactly one other image
    for subject in nsd_world.subjects:
        mapped = [next(iter(t)) for (s, _), t in targets.items() if s == subject]
        assert len(set(mapped)) == len(mapped)


def test_samples_read_the_deranged_response(nsd_world):
    ds = _dataset(nsd_world, subjects=[2], split='train', pairing='shuffled')
    with h5py.File(nsd_world.converted_file(2), 'r') as f:
        betas = f['rois/streams/betas'][:]
    with h5py.File(nsd_world.stimuli_file, 'r') as f:
        brick = f['imgBrick'][:]
    for idx in (0, 5, len(ds) - 1):
        info, sample = ds.get_data_info(idx), ds[idx]
        np.testing.assert_array_equal(sample['inputs']['fmri']['streams'].numpy(), betas[info['row']])
        np.testing.assert_array_equal(
            sample['inputs']['img'].numpy(), brick[info['nsd_id']][..., ::-1].transpose(2, 0, 1)
        )
        assert sample['data_samples'].nsd_id == info['nsd_id']
    # the per-voxel statistics of the responses the split reads are exactly the paired ones
    paired = _dataset(nsd_world, subjects=[2], split='train')
    stack = lambda d: np.stack([betas[d.get_data_info(i)['row']] for i in range(len(d))])  # noqa: E731
    np.testing.assert_allclose(stack(ds).mean(0), stack(paired).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stack(ds).std(0), stack(paired).std(0), rtol=1e-5, atol=1e-6)


def test_derangement_is_fixed_per_seed_and_differs_across_seeds(nsd_world):
    rows = lambda seed: [d['row'] for d in _infos(_dataset(nsd_world, pairing='shuffled', pairing_seed=seed))]  # noqa: E731
    assert rows(0) == rows(0)
    assert rows(0) != rows(1)
    assert len({tuple(rows(s)) for s in range(4)}) == 4
    # validation / test datasets keep the true pairing unless asked
    test = _infos(_dataset(nsd_world, split='test'))
    file_ids = _file_nsd_ids(nsd_world)
    assert all(file_ids[d['subject']][d['row']] == d['nsd_id'] and 'fmri_nsd_id' not in d for d in test)


def test_derange_rows_with_uneven_repetitions():
    rng = np.random.default_rng(0)
    for trial in range(300):
        counts = rng.integers(1, 4, int(rng.integers(2, 25)))
        if 2 * counts.max() > counts.sum():
            continue
        nsd_id = rng.permutation(np.repeat(rng.choice(10_000, len(counts), replace=False), counts))
        perm = derange_rows(nsd_id, np.random.default_rng(trial))
        assert sorted(perm.tolist()) == list(range(len(nsd_id)))
        assert np.all(nsd_id[perm] != nsd_id)
    # one image holding more than half the rows cannot be deranged
    with pytest.raises(ValueError, match='image 7 holds 3'):
        derange_rows(np.array([7, 7, 7, 1, 2]), rng)
    # an averaged file (one row per image) gives a derangement of the images
    perm = derange_rows(np.arange(50), np.random.default_rng(3))
    assert np.all(perm != np.arange(50)) and Counter(perm.tolist()) == Counter(range(50))


def test_bad_pairing_is_refused(nsd_world):
    with pytest.raises(ValueError, match='pairing must be one of'):
        _dataset(nsd_world, pairing='random')


@pytest.mark.parametrize('config, twin', sorted(SHUFFLED_CONFIGS.items()))
def test_shuffled_configs_differ_from_their_twin_in_the_training_pairing_only(config, twin):
    shuffled, paired = (Config.fromfile(osp.join(REPO, c)).to_dict() for c in (config, twin))
    dataset = shuffled['train_dataloader']['dataset']
    assert dataset.pop('pairing') == 'shuffled'
    assert dataset.pop('pairing_seed') == shuffled['randomness']['seed']
    assert shuffled == paired

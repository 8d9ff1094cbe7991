# Copyright (c) mmbrain contributors. All rights reserved.
"""NSDDataset's validation split: deterministic, drawn from the non-test images only, left out of training."""

import pytest

from mmbrain.datasets import NSDDataset


def _rows(nsd_world, split, **kwargs):
    dataset = NSDDataset(
        nsd_world.converted_dir, subjects=[2], split=split, stimuli_file=nsd_world.stimuli_file, **kwargs
    )
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def test_validation_split_partitions_the_non_test_rows(nsd_world):
    everything = _rows(nsd_world, 'all')
    train, val, test = (_rows(nsd_world, s, val_fraction=0.25) for s in ('train', 'val', 'test'))
    ids = {name: {r['nsd_id'] for r in rows} for name, rows in (('train', train), ('val', val), ('test', test))}
    assert not ids['val'] & ids['test'] and not ids['train'] & ids['val'] and not ids['train'] & ids['test']
    assert all(r['shared1000'] for r in test) and not any(r['shared1000'] for r in train + val)
    # every row lands in exactly one split; every repetition of a validation image is in it
    assert sorted(r['row'] for r in train + val + test) == sorted(r['row'] for r in everything)
    non_test_images = {r['nsd_id'] for r in everything if not r['shared1000']}
    assert len(ids['val']) == round(0.25 * len(non_test_images))
    # without a validation split, train is every non-test row (pretraining's default)
    assert {r['row'] for r in _rows(nsd_world, 'train')} == {r['row'] for r in train + val}


def test_validation_split_is_deterministic_and_seeded(nsd_world):
    first = [r['row'] for r in _rows(nsd_world, 'val', val_fraction=0.25)]
    assert first == [r['row'] for r in _rows(nsd_world, 'val', val_fraction=0.25)]
    assert first != [r['row'] for r in _rows(nsd_world, 'val', val_fraction=0.25, val_seed=1)]


def test_session_split_validation_never_shows_a_test_image(nsd_world):
    test = _rows(nsd_world, 'test', split_by='session', test_sessions=[2], val_fraction=0.3)
    val = _rows(nsd_world, 'val', split_by='session', test_sessions=[2], val_fraction=0.3)
    assert val and not {r['nsd_id'] for r in val} & {r['nsd_id'] for r in test}
    assert all(r['session'] == 1 for r in val)


def test_bad_validation_options_raise(nsd_world):
    with pytest.raises(ValueError, match='val_fraction'):
        _rows(nsd_world, 'val')
    with pytest.raises(ValueError, match='val_fraction'):
        _rows(nsd_world, 'train', val_fraction=1.0)

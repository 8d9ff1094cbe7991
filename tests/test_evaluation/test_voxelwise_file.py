# Copyright (c) mmbrain contributors. All rights reserved.
"""The per-voxel results file has one writer and one reader (:mod:`mmbrain.evaluation.voxelwise`)."""

import numpy as np
import pytest

from mmbrain.evaluation.voxelwise import VoxelwiseFormatError, read_voxelwise, write_voxelwise


def test_round_trip(tmp_path):
    path = str(tmp_path / 'voxelwise.npz')
    results = {
        'floc-faces': {'r': np.array([0.1, 0.2]), 'noise_ceiling': np.array([50.0, 60.0]), 'xyz': np.zeros((2, 3))},
        'streams': {'r': np.array([0.3])},
    }
    write_voxelwise(path, results)
    back = read_voxelwise(path)
    assert sorted(back) == ['floc-faces', 'streams'] and sorted(back['floc-faces']) == ['noise_ceiling', 'r', 'xyz']
    np.testing.assert_array_equal(back['floc-faces']['noise_ceiling'], [50.0, 60.0])


@pytest.mark.parametrize(
    'results, problem',
    [
        ({'g': {'r': np.zeros(3), 'noise_ceiling': np.zeros(2)}}, r'g/noise_ceiling has shape \(2,\)'),
        ({'g': {'r': np.zeros(3), 'xyz': np.zeros(3)}}, r'g/xyz has shape \(3,\)'),
        ({'g': {'noise_ceiling': np.zeros(3)}}, r'group g has fields'),
        ({'g': {'r': np.zeros(3), 'weights': np.zeros(3)}}, r'group g has fields'),
    ],
)
def test_the_writer_refuses_what_the_readers_cannot_read(tmp_path, results, problem):
    path = tmp_path / 'voxelwise.npz'
    with pytest.raises(VoxelwiseFormatError, match=problem):
        write_voxelwise(str(path), results)
    assert not path.exists()


def test_the_reader_names_the_file_and_refuses_pickles(tmp_path):
    pickled = tmp_path / 'pickled.npz'
    np.savez(pickled, **{'g/r': np.array([object()], dtype=object)})
    with pytest.raises(VoxelwiseFormatError, match='pickled.npz: not a readable per-voxel results file'):
        read_voxelwise(str(pickled))
    flat = tmp_path / 'flat.npz'
    np.savez(flat, r=np.zeros(3))
    with pytest.raises(VoxelwiseFormatError, match='flat.npz: invalid ROI group name'):
        read_voxelwise(str(flat))
    text = tmp_path / 'text.npz'
    text.write_text('not a zip')
    with pytest.raises(VoxelwiseFormatError, match='text.npz'):
        read_voxelwise(str(text))

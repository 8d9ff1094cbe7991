# Copyright (c) mmbrain contributors. All rights reserved.
"""The converted subject file: one writer, one reader, schema versions 1 and 2."""

import os.path as osp

import h5py
import numpy as np
import pytest

from mmbrain.datasets.converted_file import (
    VERSION,
    ConvertedFormatError,
    ConvertedSubject,
    ConvertedSubjectWriter,
    converted_path,
    subject_file_name,
    subject_tag,
)

AFFINE = np.array([[-1.8, 0, 0, 72.0], [0, 1.8, 0, -108.0], [0, 0, 1.8, -72.0], [0, 0, 0, 1]])


def _write_v2(path, n_rows=5, with_xyz=True, ncsnr=True):
    """A small version-2 file with two groups, written through the writer."""
    rng = np.random.default_rng(0)
    with ConvertedSubjectWriter(
        path,
        3,
        'func1pt8mm',
        'session',
        False,
        affine=AFFINE,
        grid_shape=(81, 104, 83),
        betas_version='betas_fithrf_GLMdenoise_RR',
        rois_source='nsddata/ppdata/subj03/roi',
        ncsnr_source='estimated' if ncsnr else None,
    ) as w:
        w.write_rows(
            nsd_id=np.arange(n_rows) * 7,
            session=np.ones(n_rows),
            shared1000=np.arange(n_rows) % 2 == 0,
            n_repeats=np.ones(n_rows),
        )
        betas = {}
        for name, v in (('prf-visualrois', 4), ('floc-faces', 3)):
            ijk = np.stack([np.arange(v), np.zeros(v), np.ones(v)], 1)
            ds = w.create_group(
                name,
                n_rows,
                label=np.arange(v) % 2,
                label_names=['Unknown', 'V1v'],
                ijk=ijk,
                xyz=ijk * 1.8 if with_xyz else None,
            )
            betas[name] = rng.standard_normal((n_rows, v)).astype(np.float32)
            ds[...] = betas[name]
            if ncsnr:
                w.write_ncsnr(name, np.linspace(0, 1, v))
    return betas


def _write_v1(path, fmt='mmbrain-nsd', version=1):
    """A version-1 file as the converters wrote it before version 2 (raw h5py: the old layout, no v2 fields)."""
    with h5py.File(path, 'w') as f:
        f.attrs.update(format=fmt, version=version, subject=1, space='func1pt8mm', zscore='none', averaged=True)
        f['nsd_id'] = np.array([4, 2], np.int32)
        f['session'] = np.zeros(2, np.int16)
        f['shared1000'] = np.array([True, False])
        g = f.create_group('rois/streams')
        g['betas'] = np.ones((2, 6), np.float32)
        g['label'] = np.zeros(6, np.int8)
        g['ijk'] = np.zeros((6, 3), np.int16)
        g.attrs['label_names'] = np.array(['Unknown'], dtype=object)


def test_subject_names():
    assert subject_tag(3) == 'subj03' and subject_file_name(3) == 'subj03.h5'
    assert converted_path('/data', 12) == osp.join('/data', 'subj12.h5')


def test_version_2_round_trip(tmp_path):
    path = str(tmp_path / 'subj03.h5')
    betas = _write_v2(path)
    s = ConvertedSubject(path)
    assert VERSION == 2 and s.version == 2 and s.subject == 3 and s.space == 'func1pt8mm'
    assert s.zscore == 'session' and s.averaged is False and s.path == path
    assert sorted(s.groups) == ['floc-faces', 'prf-visualrois'] and s.groups == list(s.voxel_counts)
    assert s.voxel_counts == {'prf-visualrois': 4, 'floc-faces': 3} and s.n_rows == 5
    np.testing.assert_array_equal(s.nsd_id, np.arange(5) * 7)
    np.testing.assert_array_equal(s.shared1000, [True, False, True, False, True])
    np.testing.assert_array_equal(s.n_repeats, np.ones(5))
    np.testing.assert_array_equal(s.affine, AFFINE)
    assert s.affine.dtype == np.float64 and s.grid_shape == (81, 104, 83)
    assert s.betas_version == 'betas_fithrf_GLMdenoise_RR' and s.rois_source == 'nsddata/ppdata/subj03/roi'
    assert s.ncsnr_source == 'estimated' and s.attrs['format'] == 'mmbrain-nsd'
    g = 'prf-visualrois'
    np.testing.assert_array_equal(s.labels(g), [0, 1, 0, 1])
    assert s.label_names(g) == ['Unknown', 'V1v']
    np.testing.assert_allclose(s.xyz(g), s.ijk(g) * 1.8, rtol=1e-6)
    assert s.xyz(g).dtype == np.float32 and s.vertex(g) is None and s.hemi(g) is None
    np.testing.assert_allclose(s.ncsnr(g), np.linspace(0, 1, 4), rtol=1e-6)
    np.testing.assert_array_equal(s.betas(g), betas[g])
    np.testing.assert_array_equal(s.betas(g, rows=[3, 0, 3]), betas[g][[3, 0, 3]])  # any order, repeats
    np.testing.assert_array_equal(s.betas_row(g, 4), betas[g][4])
    s.require_version(2, 'writing NIfTI maps')  # no error
    with pytest.raises(IndexError, match='out of range'):
        s.betas(g, rows=[5])
    with pytest.raises(KeyError, match='no ROI group'):
        s.labels('floc-words')


def test_optional_fields_absent(tmp_path):
    path = str(tmp_path / 'subj03.h5')
    _write_v2(path, with_xyz=False, ncsnr=False)
    s = ConvertedSubject(path)
    assert s.xyz('floc-faces') is None and s.ncsnr('floc-faces') is None and s.ncsnr_source is None


def test_version_1_still_reads(tmp_path):
    path = str(tmp_path / 'subj01.h5')
    _write_v1(path)
    s = ConvertedSubject(path)
    assert s.version == 1 and s.groups == ['streams'] and s.voxel_counts == {'streams': 6}
    assert s.affine is None and s.grid_shape is None and s.betas_version is None and s.ncsnr_source is None
    assert s.n_repeats is None and s.xyz('streams') is None and s.averaged is True
    with pytest.raises(ConvertedFormatError, match=r'subj01\.h5: writing NIfTI maps needs .*version >= 2.*version 1'):
        s.require_version(2, 'writing NIfTI maps')


@pytest.mark.parametrize(
    'fmt, version, match', [('not-mmbrain', 1, 'format attribute'), ('mmbrain-nsd', 3, 'schema version 3')]
)
def test_wrong_format_or_version(tmp_path, fmt, version, match):
    path = str(tmp_path / 'subj01.h5')
    _write_v1(path, fmt, version)
    with pytest.raises(ConvertedFormatError, match=match) as info:
        ConvertedSubject(path)
    assert path in str(info.value)


def test_missing_or_unreadable(tmp_path):
    with pytest.raises(FileNotFoundError, match='subj09.h5: file not found'):
        ConvertedSubject(str(tmp_path / 'subj09.h5'))
    bad = tmp_path / 'subj02.h5'
    bad.write_bytes(b'not hdf5')
    with pytest.raises(ConvertedFormatError, match='subj02.h5: not a readable HDF5 file, or damaged'):
        ConvertedSubject(str(bad))


def test_writer_rejects_bad_v2_fields(tmp_path):
    with pytest.raises(ValueError, match='4x4'):
        ConvertedSubjectWriter(str(tmp_path / 'a.h5'), 1, 'func1pt8mm', 'none', False, affine=np.eye(3))
    with pytest.raises(ValueError, match='ncsnr_source'):
        ConvertedSubjectWriter(str(tmp_path / 'a.h5'), 1, 'func1pt8mm', 'none', False, ncsnr_source='guess')


def test_reads_the_converted_world(nsd_world):
    s = ConvertedSubject(nsd_world.converted_file(1))
    assert s.subject == 1 and s.n_rows == len(s.nsd_id) == len(s.session) > 0
    for g in s.groups:
        assert s.betas(g).shape == (s.n_rows, s.voxel_counts[g]) == (s.n_rows, len(s.labels(g)))
        assert s.xyz(g).shape == (s.voxel_counts[g], 3)


def _read_everything(path):
    s = ConvertedSubject(path)
    arrays = [s.nsd_id, s.session, s.shared1000, s.n_repeats]
    for g in s.groups:
        arrays += [s.labels(g), s.label_names(g), s.ijk(g), s.xyz(g), s.ncsnr(g), s.betas(g), s.betas(g, [0, 2])]
    return arrays


def test_corrupt_metadata_is_an_error_naming_the_file(tmp_path):
    """One flipped byte every 53 bytes of a small converted file: each read either succeeds (raw data, times) or
    raises ConvertedFormatError naming the file. Before: about one in eight offsets gave a bare KeyError,
    RuntimeError, TypeError or ValueError from h5py without the file name."""
    src = tmp_path / 'src.h5'
    n = 6
    with ConvertedSubjectWriter(
        str(src), 1, 'func1pt8mm', 'session', False, affine=np.eye(4), grid_shape=(4, 4, 4)
    ) as w:
        w.write_rows(np.arange(n), np.ones(n), np.zeros(n, bool), np.ones(n))
        for g in ('streams', 'floc-faces'):
            w.create_group(g, n, np.ones(4), ['Unknown', 'early'], ijk=np.zeros((4, 3)), xyz=np.zeros((4, 3)))[:] = 1
            w.write_ncsnr(g, np.ones(4))
    data = src.read_bytes()
    path = str(tmp_path / 'subj01.h5')
    errors = 0
    for offset in range(0, len(data), 53):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        with open(path, 'wb') as f:
            f.write(damaged)
        try:
            _read_everything(path)
        except ConvertedFormatError as err:
            assert str(err).startswith(f'{path}: '), (offset, str(err))
            errors += 1
    assert errors >= 10  # the sweep does reach the metadata

# Copyright (c) mmbrain contributors. All rights reserved.
"""A damaged HDF5 file (a corrupted chunk index) is one clear error that names the file, not HDF5's bare reason."""

import shutil

import h5py
import numpy as np
import pytest
from _helpers import load_tool

from mmbrain.datasets.converter import convert_nsd
from mmbrain.datasets.nsd_files import NSDFormatError, betas_path
from mmbrain.datasets.row_reader import get_row_reader


def _corrupt_chunk_index(path):
    """Overwrite the entries of the file's first chunk B-tree node (signature ``TREE``, node type 1)."""
    data = bytearray(path.read_bytes())
    node = data.find(b'TREE\x01')
    assert node > 0, f'{path}: no chunk index found'
    data[node + 24 : node + 224] = b'\xab' * 200
    path.write_bytes(bytes(data))


def test_a_damaged_nsd_session_file_is_named(nsd_world, tmp_path, capsys):
    root = tmp_path / 'world'
    shutil.copytree(nsd_world.root, root, ignore=shutil.ignore_patterns('mmbrain*', 'coco', 'ade'))
    session = root / betas_path('', 1, 1)
    _corrupt_chunk_index(session)
    with pytest.raises(NSDFormatError, match=rf'^{session}: cannot read /betas planes .*the file is damaged'):
        convert_nsd(str(root), str(tmp_path / 'out'), subjects=[1], progress=False)
    tool = load_tool('tools/dataset_converters/nsd_to_mmbrain.py')
    assert tool.main(['--nsd-root', str(root), '--out', str(tmp_path / 'out'), '--subjects', '1', '--quiet']) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f'error: {session}: cannot read')
    assert not (tmp_path / 'out' / 'subj01.h5').exists()


def test_a_damaged_chunked_stimulus_file_is_named(tmp_path):
    path = tmp_path / 'nsd_stimuli.hdf5'  # NSD's own imgBrick may be chunked (the row reader then uses h5py)
    with h5py.File(path, 'w') as f:
        f.create_dataset('imgBrick', data=np.zeros((20, 8, 8, 3), np.uint8), chunks=(1, 8, 8, 3))
    _corrupt_chunk_index(path)
    with pytest.raises(OSError, match=rf'^{path}:imgBrick: cannot read row 3, the file is damaged'):
        get_row_reader(str(path), 'imgBrick')[3]

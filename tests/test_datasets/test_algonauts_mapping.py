# Copyright (c) mmbrain contributors. All rights reserved.
"""The challenge's mapping_<group>.npy files are read without unpickling anything but a {label: name} dict."""

import os.path as osp

import numpy as np
import pytest
from _helpers import load_tool
from _tmpfs import tiny_tmpfs

from mmbrain.datasets.algonauts import load_label_mapping
from mmbrain.datasets.nsd_files import NSDFormatError
from test_datasets.test_algonauts import algonauts  # noqa: F401  (the miniature challenge layout fixture)


class _RunsCode:
    """Unpickles to the string 'V1v', but writes a marker file first (a payload a valid-looking mapping can hide)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return eval, (f'__import__("pathlib").Path({self.marker!r}).write_text("ran") and "V1v"',)


def test_the_challenge_layout_reads(tmp_path):
    path = tmp_path / 'mapping_prf-visualrois.npy'
    np.save(path, {0: 'Unknown', 1: 'V1v', 2: 'V1d'})
    assert load_label_mapping(str(path)) == {0: 'Unknown', 1: 'V1v', 2: 'V1d'}
    np.save(path, {np.int64(0): np.str_('Unknown'), np.int32(1): np.str_('V1v')})  # numpy scalars decode too
    assert load_label_mapping(str(path)) == {0: 'Unknown', 1: 'V1v'}


def test_a_payload_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'mapping_floc-faces.npy'
    np.save(path, np.array({0: 'Unknown', 1: _RunsCode(marker)}, dtype=object), allow_pickle=True)
    with pytest.raises(
        NSDFormatError,
        match=r'mapping_floc-faces.npy: refusing to unpickle it: global '
        r'builtins.eval is not allowed',
    ):
        load_label_mapping(str(path))
    assert not marker.exists()
    # The hazard is real: numpy's own loader with pickles allowed runs it (and returns a valid-looking mapping).
    assert np.load(path, allow_pickle=True).item() == {0: 'Unknown', 1: 'V1v'} and marker.exists()


@pytest.mark.parametrize(
    'content',
    [np.arange(3), np.array(['V1v', 'V2v']), np.array([{1: 'V1v'}], dtype=object), np.array({'V1v': 1}, dtype=object)],
)
def test_anything_but_a_label_dict_is_refused(tmp_path, content):
    path = tmp_path / 'mapping_streams.npy'
    np.save(path, content, allow_pickle=True)
    with pytest.raises(NSDFormatError, match='mapping_streams.npy: expected'):
        load_label_mapping(str(path))


@pytest.mark.slow
def test_the_converter_refuses_the_payload_and_reports_a_read_only_folder(algonauts, tmp_path, capsys):  # noqa: F811
    cli = load_tool('tools/dataset_converters/algonauts_to_mmbrain.py')
    root, marker = algonauts['root'], tmp_path / 'pwned'
    with tiny_tmpfs(tmp_path, read_only=True) as disk:
        assert cli.main(['--root', root, '--out', str(disk), '--subjects', '1']) == 1
        assert capsys.readouterr().err.strip() == (
            f'error: {disk / "subj01.h5"}: cannot write the output (Read-only file system)'
        )
    mapping = osp.join(root, 'subj01', 'roi_masks', 'mapping_streams.npy')
    np.save(mapping, np.array({0: 'Unknown', 1: _RunsCode(marker)}, dtype=object), allow_pickle=True)
    out = tmp_path / 'out'
    assert cli.main(['--root', root, '--out', str(out), '--subjects', '1']) == 1  # bad data: exit 1
    assert 'mapping_streams.npy: refusing to unpickle it: global builtins.eval' in capsys.readouterr().err
    assert not marker.exists() and not (out / 'subj01.h5').exists()

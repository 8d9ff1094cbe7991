# Copyright (c) mmbrain contributors. All rights reserved.
"""The converted-file writer publishes only a complete, synced, read-back file, and never clobbers unasked."""

import os
import shutil
import stat
import subprocess
import sys

import h5py
import numpy as np
import pytest
from _helpers import REPO, load_tool
from _tmpfs import tiny_tmpfs

from mmbrain.datasets.converted_file import ConvertedSubject, ConvertedSubjectWriter
from mmbrain.datasets.converter import convert_nsd
from mmbrain.utils.atomic import OutputError, OutputExistsError


def _write(path, n_rows=6, value=1.0, overwrite=False):
    with ConvertedSubjectWriter(str(path), 1, 'func1pt8mm', 'session', False, overwrite) as w:
        w.write_rows(np.arange(n_rows), np.ones(n_rows), np.zeros(n_rows, bool), np.ones(n_rows))
        ds = w.create_group('streams', n_rows, np.ones(4), ['Unknown', 'early'], ijk=np.zeros((4, 3)))
        ds[:] = value


def _listing(folder):
    return sorted(os.listdir(folder))


def test_a_truncated_file_is_never_published(tmp_path, monkeypatch):
    """h5py can close without reporting a failed write (full disk): the read-back check catches the truncation."""
    path = tmp_path / 'subj01.h5'
    _write(path, value=1.0)
    good = path.read_bytes()
    real_close = h5py.File.close

    def close_then_lose_the_tail(self):
        name = self.filename if self.id.valid else None
        real_close(self)
        if name and name.endswith('.partial') and os.path.getsize(name) > 2048:
            os.truncate(name, 2048)

    monkeypatch.setattr(h5py.File, 'close', close_then_lose_the_tail)
    with pytest.raises(ValueError, match=rf'{path}: the written HDF5 file (does not read back|is incomplete)'):
        _write(path, value=2.0, overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == good and _listing(tmp_path) == ['subj01.h5']
    assert ConvertedSubject(str(path)).betas('streams').min() == 1.0


@pytest.mark.slow
def test_a_full_disk_keeps_the_good_old_file(nsd_world, tmp_path):
    good = nsd_world.converted_file(1)
    size = os.path.getsize(good)
    with tiny_tmpfs(tmp_path, size=f'{(size * 3 // 2) // 1024 + 8}k') as disk:
        out = disk / 'mmbrain'
        out.mkdir()
        shutil.copy(good, out / 'subj01.h5')
        with pytest.raises(OutputError, match=rf'^{out / "subj01.h5"}: cannot write the output \(No space left'):
            convert_nsd(nsd_world.root, str(out), subjects=[1], overwrite=True, progress=False)
        with open(good, 'rb') as f:
            assert (out / 'subj01.h5').read_bytes() == f.read()
        assert not [p for p in _listing(out) if p.endswith('.partial')]  # no temporary file left behind

        # The command line: one line naming the file, exit 1, the good file still there.
        result = subprocess.run(
            [
                sys.executable,
                os.path.join(REPO, 'tools/dataset_converters/nsd_to_mmbrain.py'),
                '--nsd-root',
                nsd_world.root,
                '--out',
                str(out),
                '--subjects',
                '1',
                '--overwrite',
                '--quiet',
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 1
        assert result.stderr.strip() == f'error: {out / "subj01.h5"}: cannot write the output (No space left on device)'
        assert not [p for p in _listing(out) if p.endswith('.partial')]
        assert ConvertedSubject(str(out / 'subj01.h5')).n_rows > 0


def test_two_converters_writing_the_same_output_cannot_both_succeed(tmp_path):
    path = tmp_path / 'subj01.h5'
    first = ConvertedSubjectWriter(str(path), 1, 'func1pt8mm', 'session', False)
    second = ConvertedSubjectWriter(str(path), 1, 'func1pt8mm', 'session', False)
    for writer, n_rows in ((first, 5), (second, 7)):  # both start before either finishes
        writer.__enter__()
        writer.write_rows(np.arange(n_rows), np.ones(n_rows), np.zeros(n_rows, bool), np.ones(n_rows))
    first.__exit__(None, None, None)
    with pytest.raises(OutputExistsError, match='subj01.h5: already exists'):
        second.__exit__(None, None, None)
    assert ConvertedSubject(str(path)).n_rows == 5
    assert _listing(tmp_path) == ['subj01.h5']


def test_leftovers_of_an_interrupted_converter_are_removed_and_modes_follow_the_umask(tmp_path):
    leftover = tmp_path / '.subj01.h5.k3x_9qzw.partial'  # what a killed converter leaves
    leftover.write_bytes(b'half an HDF5 file')
    other = tmp_path / '.subj02.h5.k3x_9qzw.partial'  # another subject's: not this writer's to remove
    other.write_bytes(b'x')
    old = os.umask(0o022)
    try:
        _write(tmp_path / 'subj01.h5')
    finally:
        os.umask(old)
    assert _listing(tmp_path) == ['.subj02.h5.k3x_9qzw.partial', 'subj01.h5']
    assert stat.S_IMODE(os.stat(tmp_path / 'subj01.h5').st_mode) == 0o644


def test_an_existing_file_stops_the_converter_before_any_work(nsd_world, tmp_path):
    out = tmp_path / 'mmbrain'
    out.mkdir()
    (out / 'subj02.h5').write_bytes(b'an earlier conversion')
    with pytest.raises(OutputExistsError, match=r'subj02.h5: already exists \(pass --overwrite to replace it\)'):
        convert_nsd(nsd_world.root, str(out), subjects=[1, 2], progress=False)
    assert _listing(out) == ['subj02.h5']


@pytest.mark.slow
def test_a_read_only_output_folder_is_one_line_and_exit_1(nsd_world, tmp_path, capsys):
    tool = load_tool('tools/dataset_converters/nsd_to_mmbrain.py')
    with tiny_tmpfs(tmp_path, read_only=True) as disk:
        assert tool.main(['--nsd-root', nsd_world.root, '--out', str(disk), '--subjects', '1', '--quiet']) == 1
    assert capsys.readouterr().err.strip() == (
        f'error: {disk / "subj01.h5"}: cannot write the output (Read-only file system)'
    )

# Copyright (c) mmbrain contributors. All rights reserved.
"""Publishing outputs (files and folders): atomic, verified, synced, never clobbering unless asked, never replacing
an input."""

import errno
import os
import stat
from pathlib import Path

import pytest
from _tmpfs import tiny_tmpfs

from mmbrain.utils import atomic_write
from mmbrain.utils.atomic import (
    AtomicFolder,
    AtomicOutput,
    OutputError,
    OutputExistsError,
    SameFileError,
    check_output,
    publish_folder,
    remove_stale_temps,
)


def test_atomic_write_replaces_on_success(tmp_path):
    path = tmp_path / 'sub' / 'out.txt'
    with atomic_write(path) as f:
        f.write('new')
    assert path.read_text() == 'new'
    assert sorted(p.name for p in path.parent.iterdir()) == ['out.txt']


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / 'out.bin'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='interrupted'):
        with atomic_write(path, 'wb') as f:
            f.write(b'half')
            raise RuntimeError('interrupted')
    assert path.read_bytes() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.bin']


def test_no_clobber_unless_overwrite(tmp_path):
    path = tmp_path / 'out.txt'
    path.write_text('old')
    with pytest.raises(OutputExistsError, match='out.txt: already exists .*--overwrite'):
        with atomic_write(path, overwrite=False) as f:
            f.write('new')
    assert path.read_text() == 'old'
    with atomic_write(path, overwrite=True) as f:
        f.write('new')
    assert path.read_text() == 'new'


def test_two_writers_of_one_output_cannot_both_succeed(tmp_path):
    """Both start while the output does not exist (the start-time check passes for both); only one publishes."""
    path = tmp_path / 'subj01.h5'
    first, second = AtomicOutput(path), AtomicOutput(path)
    for out, text in ((first, 'first'), (second, 'second')):
        with open(out.open(), 'w') as f:
            f.write(text)
    first.commit()
    with pytest.raises(OutputExistsError, match='another run wrote it meanwhile'):
        second.commit()
    second.discard()
    assert path.read_text() == 'first'
    assert os.listdir(tmp_path) == ['subj01.h5']


def test_the_output_may_not_be_an_input_even_through_links(tmp_path):
    real = tmp_path / 'data'
    real.mkdir()
    src = real / 'ann.json'
    src.write_text('{"input": true}')
    (tmp_path / 'alias').symlink_to(real, target_is_directory=True)
    os.link(src, tmp_path / 'hardlink.json')
    for out in (tmp_path / 'alias' / 'ann.json', tmp_path / 'hardlink.json', real / '..' / 'data' / 'ann.json'):
        with pytest.raises(SameFileError, match='is the input'):
            check_output(out, overwrite=True, inputs=[src])
        with pytest.raises(SameFileError):
            with atomic_write(out, overwrite=True, inputs=[src]) as f:
                f.write('clobbered')
    assert src.read_text() == '{"input": true}'
    assert check_output(tmp_path / 'other.json', inputs=[src]) == str(tmp_path / 'other.json')


def test_outputs_get_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / 'a.json') as f:
            f.write('{}')
        with AtomicOutput(tmp_path / 'b.bin') as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'x')
        os.umask(0o027)
        with atomic_write(tmp_path / 'c.json') as f:
            f.write('{}')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'a.json').st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / 'b.bin').st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / 'c.json').st_mode) == 0o640


def test_stale_temporaries_are_removed_live_and_foreign_ones_kept(tmp_path):
    path = tmp_path / 'subj01.h5'
    live = AtomicOutput(path)  # a writer that is still running holds its temporary file's lock
    live_tmp = live.open()
    stale = tmp_path / '.subj01.h5.ab12cd_9.partial'
    stale.write_bytes(b'left by a killed converter')
    foreign = [
        tmp_path / '.subj02.h5.ab12cd_9.partial',
        tmp_path / '.subj01.h5.toolongname.partial',
        tmp_path / 'subj01.h5.partial',
        tmp_path / 'notes.txt',
    ]
    for p in foreign:
        p.write_text('not ours')
    try:
        assert remove_stale_temps(path) == [str(stale)]
        assert os.path.exists(live_tmp) and all(p.exists() for p in foreign)
        with atomic_write(path, 'wb') as f:  # the next writer of the output cleans up too
            f.write(b'x')
        assert os.path.exists(live_tmp)
    finally:
        live.discard()
    assert not os.path.exists(live_tmp)


def test_a_failed_flush_is_an_error_naming_the_output(tmp_path, monkeypatch):
    path = tmp_path / 'out.json'
    path.write_text('good old file')

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            return len(data)  # buffered: the error comes at flush, as on a full disk

        def flush(self):
            raise OSError(errno.ENOSPC, 'No space left on device')

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __getattr__(self, name):
            return getattr(self.f, name)

    real_open = open

    def full_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return FullDisk(f) if str(file).endswith('.partial') else f

    monkeypatch.setattr('builtins.open', full_open)
    with pytest.raises(OutputError, match=r'out.json: cannot write the output \(No space left on device\)'):
        with atomic_write(path, overwrite=True) as f:
            f.write('new content')
    monkeypatch.undo()
    assert path.read_text() == 'good old file'
    assert os.listdir(tmp_path) == ['out.json']


def test_a_failed_verification_publishes_nothing(tmp_path):
    path = tmp_path / 'out.bin'
    path.write_bytes(b'good')

    def verify(tmp):
        with open(tmp, 'rb') as f:
            if f.read() != b'complete':
                raise ValueError(f'{tmp}: truncated')

    with pytest.raises(ValueError, match='truncated'):
        with atomic_write(path, 'wb', overwrite=True, verify=verify) as f:
            f.write(b'comp')
    assert path.read_bytes() == b'good' and os.listdir(tmp_path) == ['out.bin']


def test_an_unwritable_folder_is_one_line_naming_the_path(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, 'Read-only file system')

    monkeypatch.setattr('tempfile.mkstemp', read_only)
    with pytest.raises(OutputError) as info:
        with atomic_write(tmp_path / 'out.json') as f:
            f.write('{}')
    assert str(info.value) == f'{tmp_path / "out.json"}: cannot write the output (Read-only file system)'


@pytest.mark.slow
def test_a_full_disk_keeps_the_good_old_file(tmp_path):
    with tiny_tmpfs(tmp_path) as disk:
        path = disk / 'out.bin'
        path.write_bytes(b'good old file')
        with pytest.raises(OutputError, match='out.bin: cannot write the output .*No space left'):
            with atomic_write(path, 'wb', overwrite=True) as f:
                f.write(os.urandom(256 * 1024))
        assert path.read_bytes() == b'good old file'
        assert os.listdir(disk) == ['out.bin']


@pytest.mark.slow
def test_a_read_only_folder_keeps_nothing_and_names_the_path(tmp_path):
    with tiny_tmpfs(tmp_path, read_only=True) as disk:
        with pytest.raises(OutputError) as info:
            with atomic_write(disk / 'sub' / 'out.json') as f:
                f.write('{}')
        assert str(info.value) == f'{disk / "sub" / "out.json"}: cannot write the output (Read-only file system)'


# Folders --------------------------------------------------------------------------------------------------------
def test_a_folder_is_published_whole_with_the_umask_mode(tmp_path):
    out = tmp_path / 'world'
    old = os.umask(0o022)
    try:
        with AtomicFolder(out) as tmp:
            assert not out.exists() and os.path.basename(tmp).startswith('.world.')
            (Path(tmp) / 'sub').mkdir()
            (Path(tmp) / 'sub' / 'a.txt').write_text('a')
    finally:
        os.umask(old)
    assert (out / 'sub' / 'a.txt').read_text() == 'a'
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755  # not mkdtemp's 0700
    assert os.listdir(tmp_path) == ['world']


def test_a_failed_or_unverified_folder_leaves_the_old_one(tmp_path):
    out = tmp_path / 'world'
    out.mkdir()
    (out / 'old.txt').write_text('old')
    with pytest.raises(RuntimeError, match='interrupted'):
        with AtomicFolder(out, overwrite=True) as tmp:
            (Path(tmp) / 'new.txt').write_text('half')
            raise RuntimeError('interrupted')

    def verify(tmp):
        raise ValueError(f'{tmp}: incomplete')

    with pytest.raises(ValueError, match='incomplete'):
        with AtomicFolder(out, overwrite=True, verify=verify) as tmp:
            (Path(tmp) / 'new.txt').write_text('new')
    assert os.listdir(out) == ['old.txt'] and os.listdir(tmp_path) == ['world']
    with AtomicFolder(out, overwrite=True) as tmp:
        (Path(tmp) / 'new.txt').write_text('new')
    assert os.listdir(out) == ['new.txt'] and os.listdir(tmp_path) == ['world']


def test_a_folder_is_not_replaced_unasked_even_when_it_appears_meanwhile(tmp_path):
    out = tmp_path / 'world'
    first, second = AtomicFolder(out), AtomicFolder(out)  # both start while the output does not exist
    for folder, text in ((first, 'first'), (second, 'second')):
        (Path(folder.open()) / 'who').write_text(text)
    first.commit()
    with pytest.raises(OutputExistsError, match='world: already exists .*another run'):
        second.commit()
    second.discard()
    first.discard()
    assert (out / 'who').read_text() == 'first' and os.listdir(tmp_path) == ['world']
    with pytest.raises(OutputExistsError, match=r'world: already exists \(pass --overwrite'):
        AtomicFolder(out)


def test_publish_folder_replaces_a_named_folder_and_a_killed_replacement_is_cleaned(tmp_path):
    """The pipeline builds ``NAME.partial`` itself and publishes it over ``NAME``; an old folder moved aside by a
    killed publisher (its lock gone) is removed by the next publisher, a live one's is kept."""
    final, partial = tmp_path / 'stage', tmp_path / 'stage.partial'
    final.mkdir()
    (final / 'record.json').write_text('old')
    partial.mkdir()
    (partial / 'record.json').write_text('new')
    killed = tmp_path / '.stage.ab12cd_9.replaced'
    (killed / 'old').mkdir(parents=True)
    live = AtomicFolder(tmp_path / 'stage', overwrite=True)
    live_tmp = live.open()
    try:
        publish_folder(partial, final, overwrite=True)
        assert (final / 'record.json').read_text() == 'new'
        assert sorted(os.listdir(tmp_path)) == sorted(['stage', os.path.basename(live_tmp)])
        partial.mkdir()
        with pytest.raises(OutputExistsError):
            publish_folder(partial, final)  # without overwrite
        assert (final / 'record.json').read_text() == 'new' and partial.is_dir()
    finally:
        live.discard()


def test_an_unwritable_parent_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, 'Read-only file system')

    monkeypatch.setattr('tempfile.mkdtemp', read_only)
    with pytest.raises(OutputError) as info:
        with AtomicFolder(tmp_path / 'world'):
            pass
    assert str(info.value) == f'{tmp_path / "world"}: cannot write the output (Read-only file system)'

# Copyright (c) mmbrain contributors. All rights reserved.
"""atomic_write: the destination holds the old content or the complete new one, never a partial file."""
import pytest

from mmbrain.utils import atomic_write


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

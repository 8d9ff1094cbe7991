# Copyright (c) mmbrain contributors. All rights reserved.
"""Atomic file writes: a reader (or a later run) sees the old file or the complete new one, never half of one."""
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator, Union

__all__ = ['atomic_write']


@contextmanager
def atomic_write(path: Union[str, os.PathLike], mode: str = 'w') -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` when the block succeeds.

    Missing parent folders are created. If the block raises, the temporary file is removed and ``path`` is left as
    it was.

    Args:
        path: Destination.
        mode: ``'w'`` (text) or ``'wb'`` (binary).

    Example:
        >>> with atomic_write('out.json') as f:
        ...     json.dump(obj, f)
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.', suffix='.tmp', dir=out_dir)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise

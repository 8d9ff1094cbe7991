# Copyright (c) mmbrain contributors. All rights reserved.
"""A tiny tmpfs: a nearly full disk for the tests of what writers do when the output's storage fails."""
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@contextmanager
def tiny_tmpfs(parent: Path, size: str = '64k') -> Iterator[Path]:
    """Mount a ``size`` tmpfs under ``parent`` for the block (needs root: elsewhere the test is skipped)."""
    mnt = Path(parent) / 'tiny_tmpfs'
    mnt.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(mnt)],
                      capture_output=True).returncode:
        pytest.skip('cannot mount a tmpfs here (needs root)')
    try:
        yield mnt
    finally:
        subprocess.run(['umount', '-l', str(mnt)], check=True)

# Copyright (c) mmbrain contributors. All rights reserved.
"""A tiny tmpfs: a nearly full (or read-only) disk for the tests of what writers do when the output's storage fails."""

import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@contextmanager
def tiny_tmpfs(parent: Path, size: str = '64k', read_only: bool = False) -> Iterator[Path]:
    """Mount a ``size`` tmpfs (empty and read-only if ``read_only``) under ``parent`` for the block (needs root:
    elsewhere the test is skipped)."""
    mnt = Path(parent) / 'tiny_tmpfs'
    mnt.mkdir()
    options = f'size={size}' + (',ro' if read_only else '')
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(mnt)], capture_output=True).returncode:
        pytest.skip('cannot mount a tmpfs here (needs root)')
    try:
        yield mnt
    finally:
        subprocess.run(['umount', '-l', str(mnt)], check=True)

# Copyright (c) mmbrain contributors. All rights reserved.
"""Checkpoints written atomically: a run killed (or a disk filled) while saving leaves the previous checkpoint.

mmengine's ``CheckpointHook`` saves through a file backend whose local ``put`` opens the final path and writes into
it, so a kill mid-save leaves a truncated ``epoch_N.pth`` that ``--resume`` then fails on. mmbrain's runtime
(``configs/_base_/default_runtime.py``) points the hook at :class:`AtomicLocalBackend` instead, which publishes
each file through :func:`mmbrain.utils.atomic.atomic_write` (temporary file, fsync, rename).
"""

from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from mmbrain.utils.atomic import atomic_write

BACKEND_NAME = 'mmbrain_atomic_local'


@register_backend(BACKEND_NAME)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with ``put`` / ``put_text`` replacing a file atomically."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        with atomic_write(filepath, 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        with atomic_write(filepath, 'wb') as f:
            f.write(obj.encode(encoding))

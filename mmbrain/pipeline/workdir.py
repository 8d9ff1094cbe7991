# Copyright (c) mmbrain contributors. All rights reserved.
"""A pipeline's folders on disk: their lock, the leftovers of interrupted runs, and publishing a finished stage.

A stage writes into ``NAME.partial/`` beside its final folder ``NAME``; when its commands succeed its record is
written, the paths it left pointing into ``NAME.partial/`` are pointed at ``NAME/`` (:func:`retarget_paths`), and
the folder is published over the old one by :func:`mmbrain.utils.atomic.publish_folder` (old aside, new in, old
deleted: a kill at any point leaves either the old or the new folder at ``NAME``, or none; never a mix). A
``NAME.partial/`` left by an interrupted run is deleted by the next run, never trusted.

The lock (:func:`work_dir_lock`) is ``fcntl.flock`` on ``FOLDER/.lock``. Rule for shared file systems: ``flock``
excludes pipelines on other machines only where the file system makes it cluster-wide: local disks, NFSv4, NFSv3
with a working lock manager (``lockd``, not ``nolock`` / ``local_lock=all``) and Lustre mounted with ``-o flock``
(not ``localflock``, where it holds on one node only, nor ``noflock``, where it fails). Elsewhere, run the pipelines
of one work dir (and of one data folder) from one machine: the lock then still excludes them.
"""

import json
import os
import os.path as osp
import shutil
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional

from mmbrain.utils.atomic import atomic_write, publish_folder, remove_stale_temps

from .errors import WorkDirLocked
from .stages import INVALIDATED, RECORD

__all__ = [
    'LOCK_FILE',
    'PARTIAL',
    'work_dir_lock',
    'write_json',
    'remove_leftovers',
    'retarget_paths',
    'publish_stage',
    'invalidate_record',
]

LOCK_FILE = '.lock'
#: Suffix of the folder a stage writes into while it runs.
PARTIAL = '.partial'


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (synced before and after the rename)."""
    with atomic_write(path, overwrite=True) as f:
        json.dump(obj, f, indent=1)


# Not filelock: its UnixFileLock is this same flock, but it cannot tell a waiting pipeline who holds the lock.
@contextmanager
def work_dir_lock(folder: str, hint: str = 'choose another --work-dir') -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively (``fcntl.flock``) for the block; fail at once if someone else holds it.

    The holder writes its pid, start time and command line into the file, for the message of the next one.

    Args:
        folder: The folder to lock (created if missing).
        hint: What the message tells the user to do besides waiting, e.g. to choose another ``--work-dir``.

    Raises:
        WorkDirLocked: Another process holds the lock (its pid and command line are in the message).
    """
    import fcntl

    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, LOCK_FILE)
    with open(path, 'a+') as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or 'unknown process'
            raise WorkDirLocked(
                f'{folder} is in use by another pipeline ({holder}); wait for it to end or {hint}'
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f'pid {os.getpid()} since {time.strftime("%Y-%m-%d %H:%M:%S")}: {" ".join(sys.argv)}\n')
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def remove_leftovers(final: str) -> List[str]:
    """Delete what interrupted runs left beside the stage folder ``final`` (its ``.partial`` folder, and the old
    folder a kill during publication left aside); returns the paths removed."""
    removed = remove_stale_temps(final)
    partial = final + PARTIAL
    if osp.lexists(partial):
        shutil.rmtree(partial) if osp.isdir(partial) and not osp.islink(partial) else os.remove(partial)
        removed.append(partial)
    return removed


#: Files a stage's tools write that name paths in its folder: mmengine's dumped configs and ``last_checkpoint``,
#: the results' JSON indexes (``maps.json``, ...). Logs keep the paths the commands really had.
_PATH_FILES = ('.py', '.json', '.yaml', '.yml', 'last_checkpoint')
_MAX_PATH_FILE = 1 << 22


def retarget_paths(partial: str, final: str, skip: Optional[List[str]] = None) -> List[str]:
    """Point the paths into ``partial`` that a stage's files hold (see ``_PATH_FILES``) at ``final``, where the
    files will be once published; returns the files changed.

    The paths are found as written plainly, JSON-escaped and as Python string literals, for ``partial`` and its real
    path.

    Args:
        partial: The folder the stage wrote.
        final: Its published path.
        skip: Paths of files left as they are (the stage's record).
    """
    forms = {}
    for prefix in dict.fromkeys([partial, osp.realpath(partial)]):
        for encode in (lambda s: s, lambda s: json.dumps(s)[1:-1], lambda s: repr(s)[1:-1]):
            forms[encode(prefix)] = encode(final)
    changed = []
    for folder, _, files in os.walk(partial):
        for name in files:
            path = osp.join(folder, name)
            if not name.endswith(_PATH_FILES) or path in (skip or ()) or osp.islink(path):
                continue
            if os.stat(path).st_size > _MAX_PATH_FILE:
                continue
            try:
                with open(path, encoding='utf-8') as f:
                    text = f.read()
            except UnicodeDecodeError:
                continue
            new = text
            for old, replacement in forms.items():
                new = new.replace(old, replacement)
            if new != text:
                with atomic_write(path, overwrite=True) as f:
                    f.write(new)
                changed.append(path)
    return changed


def publish_stage(partial: str, final: str) -> None:
    """Publish the finished stage folder ``partial`` at ``final``, replacing the old one atomically."""
    publish_folder(partial, final, overwrite=True)


def invalidate_record(output_dir: str) -> None:
    """Make the record of the stage folder ``output_dir`` invalid (kept aside, for its timing), durably."""
    record = osp.join(output_dir, RECORD)
    if not osp.exists(record):
        return
    os.replace(record, record + INVALIDATED)
    fd = os.open(output_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

# Copyright (c) mmbrain contributors. All rights reserved.
"""Atomic publishing: a reader (or a later run) sees the old output or the complete new one, never half of one.

The one place where mmbrain publishes files and folders. Every writer of a file (converted subject files, backbone
checkpoints, COCO annotation files, reports, figures) goes through :class:`AtomicOutput` (or :func:`atomic_write`),
which

1. refuses, before anything is written, an output that exists (unless ``overwrite``) or that is one of the
   writer's own inputs (:func:`check_output`: same real path or same device and inode, so symlinks cannot fool it);
2. writes to a temporary file ``.<name>.XXXXXXXX.partial`` in the output's own folder, created with the mode the
   umask gives (as ``open`` would) and locked (``flock``) while it is being written;
3. on success syncs the file, runs the writer's check of the complete file, and publishes it: without
   ``overwrite`` by a rename that fails when the name exists (``renameat2(RENAME_NOREPLACE)``, or ``link`` +
   ``unlink``), so two runs writing the same output cannot both succeed; then syncs the folder;
4. on failure removes the temporary file and leaves the output as it was.

Folders (the synthetic world, a pipeline stage's outputs) are published the same way by :class:`AtomicFolder` (a
locked temporary folder ``.<name>.XXXXXXXX.partial`` beside the output) or, for a folder a caller built itself, by
:func:`publish_folder`: every file and folder inside is synced, then the folder is renamed into place without
replacing an existing one; with ``overwrite`` the old folder is first moved aside into a locked
``.<name>.XXXXXXXX.replaced`` folder and deleted after the new one is in (a kill in between leaves the old folder
there, which the next writer removes: never a mix of old and new files under the output's name).

Temporaries that an interrupted writer left behind are removed by the next writer of the same output (only
entries of those exact patterns whose writer is gone, i.e. whose lock can be taken). A folder that cannot be
written (read-only, full, ...) raises :class:`OutputError`, whose message is one line naming the path.
"""

import ctypes
import errno
import fcntl
import os
import os.path as osp
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from typing import IO, Callable, Iterable, Iterator, List, Optional, Union

__all__ = [
    'AtomicFolder',
    'AtomicOutput',
    'OutputError',
    'OutputExistsError',
    'SameFileError',
    'STORAGE_ERRNOS',
    'atomic_write',
    'check_output',
    'failure_reason',
    'publish_folder',
    'remove_stale_temps',
    'reserve_space',
    'same_file',
    'storage_error',
    'sync_tree',
    'umask_mode',
]

PathLike = Union[str, os.PathLike]

TEMP_SUFFIX = '.partial'
#: suffix of the folder an old output folder is moved into while :func:`publish_folder` replaces it.
REPLACED_SUFFIX = '.replaced'
# tempfile.mkstemp's random part: 8 characters of this alphabet.
_TEMP_RANDOM = r'[a-z0-9_]{8}'


def failure_reason(cause: BaseException) -> str:
    """One line saying why a write failed (HDF5's multi-line messages reduced to the system's error text)."""
    text = str(cause)
    hdf5 = re.search(r"error message = '([^']*)'", text)  # HDF5: "... errno = 28, error message = 'No space ...'"
    if hdf5:
        return hdf5.group(1)
    return getattr(cause, 'strerror', None) or ' '.join(text.split())[:200]


class OutputError(OSError):
    """An output cannot be written (read-only or full folder, ...). ``str()`` is one line naming the path."""

    def __init__(self, path: str, cause: BaseException):
        super().__init__(f'{path}: cannot write the output ({failure_reason(cause)})')
        self.errno = getattr(cause, 'errno', None)
        self.path = path


#: errno values that mean the output's storage failed (full, read-only, over quota, I/O error), not the writer.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)


def storage_error(path: str, exc: BaseException) -> Optional[OutputError]:
    """``exc`` as an :class:`OutputError` naming ``path`` when it is a storage failure (see :data:`STORAGE_ERRNOS`;
    h5py raises those as OSError with the errno set), else None."""
    if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in STORAGE_ERRNOS:
        return OutputError(path, exc)
    return None


class OutputExistsError(FileExistsError):
    """The output exists and replacing it was not asked for."""


class SameFileError(ValueError):
    """The output is one of the writer's inputs."""


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file: same real path, or (both existing) same device and inode."""
    if osp.realpath(a) == osp.realpath(b):
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_output(
    path: PathLike, overwrite: bool = False, inputs: Iterable[PathLike] = (), flag: str = '--overwrite'
) -> str:
    """The check every writer makes before it starts: the output is new (or may be replaced) and is no input.

    Args:
        path: the output.
        overwrite: replacing an existing output was asked for.
        inputs: files the writer reads; ``path`` must be none of them, even through a symlink or hard link.
        flag: how the user asks for ``overwrite`` (named in the message).

    Returns:
        ``path`` made absolute.

    Raises:
        SameFileError: ``path`` is one of ``inputs``.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = osp.abspath(os.fspath(path))
    for src in inputs:
        if same_file(path, src):
            raise SameFileError(f'{path}: is the input {os.fspath(src)}; refusing to replace an input with an output')
    if not overwrite and osp.lexists(path):
        raise OutputExistsError(f'{path}: already exists (pass {flag} to replace it)')
    return path


def _umask() -> int:
    """The process's umask, read without changing it (Linux ``/proc``), else by setting and restoring it."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(folder: bool = False) -> int:
    """The mode ``open`` (or ``mkdir``, ``folder=True``) gives a new file under the process's umask: what a
    temporary file or folder (``mkstemp``: 0600, ``mkdtemp``: 0700) is set to before it is published."""
    return (0o777 if folder else 0o666) & ~_umask()


def _temp_pattern(path: str, suffix: str = TEMP_SUFFIX) -> 're.Pattern':
    return re.compile(re.escape('.' + osp.basename(path) + '.') + _TEMP_RANDOM + re.escape(suffix))


def _lock(path: str, folder: bool, blocking: bool = True) -> int:
    """Open ``path`` (a file, or a folder) without following links and ``flock`` it; returns the descriptor.

    Raises:
        OSError: it cannot be opened, or (``blocking=False``) another process holds the lock.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if folder else os.O_NONBLOCK)
    fd = os.open(path, flags)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        raise
    return fd


def remove_stale_temps(path: PathLike) -> List[str]:
    """Remove the temporaries that interrupted writers of ``path`` left in its folder.

    Only entries named like this module's temporaries of exactly ``path`` are touched (regular files and folders
    ``.<name>.XXXXXXXX.partial``, folders ``.<name>.XXXXXXXX.replaced``), and only when no live writer holds them
    (their ``flock`` can be taken).

    Returns:
        The removed paths.
    """
    path = osp.abspath(os.fspath(path))
    folder = osp.dirname(path)
    partial, replaced = _temp_pattern(path), _temp_pattern(path, REPLACED_SUFFIX)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (partial.fullmatch(name) or replaced.fullmatch(name)):
            continue
        candidate = osp.join(folder, name)
        try:
            mode = os.lstat(candidate).st_mode
            is_folder = stat.S_ISDIR(mode)
            if not (is_folder or (stat.S_ISREG(mode) and partial.fullmatch(name))):
                continue
            fd = _lock(candidate, is_folder, blocking=False)
        except OSError:  # gone meanwhile, or locked by a live writer
            continue
        try:
            st, fst = os.lstat(candidate), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino):
                shutil.rmtree(candidate) if is_folder else os.unlink(candidate)
                removed.append(candidate)
        except OSError:  # gone meanwhile
            pass
        finally:
            os.close(fd)
    return removed


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(src: str, dst: str) -> None:
    """Rename ``src`` (a file or a folder) to ``dst``, failing with FileExistsError when ``dst`` exists."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, 'renameat2', None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), dst)
    if osp.isdir(src) and not osp.islink(src):
        # No renameat2 here, and folders cannot be hard-linked: rename refuses a non-empty existing folder itself.
        if osp.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
        try:
            os.rename(src, dst)
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst) from err
            raise
        return
    # No renameat2 (or not on this file system): a hard link is as exclusive.
    os.link(src, dst)
    os.unlink(src)


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems cannot sync a folder; the rename itself has happened
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


_FALLOC_FL_KEEP_SIZE = 1


def reserve_space(path: PathLike, n_bytes: int) -> bool:
    """Reserve ``n_bytes`` of disk blocks for the file ``path`` without changing its size, before a library that
    does not survive a failed write (HDF5: a full disk mid-file leaves its objects half-closed) writes it.

    A full disk, an exhausted quota or a file-size limit (``ulimit -f``) then shows as an error here, before
    anything is written. Linux ``fallocate(FALLOC_FL_KEEP_SIZE)``; blocks the file does not use are given back by
    truncating it to its size once written.

    Returns:
        False where the file system cannot reserve space (nothing is reserved then), else True.

    Raises:
        OSError: ENOSPC / EDQUOT (no room), EFBIG (over the process's file-size limit).
    """
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and n_bytes > limit:
        raise OSError(errno.EFBIG, f'{os.strerror(errno.EFBIG)}: needs {n_bytes} bytes, ulimit -f allows {limit}')
    fallocate = getattr(ctypes.CDLL(None, use_errno=True), 'fallocate', None)
    if fallocate is None or n_bytes <= 0:
        return False
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fd = os.open(os.fspath(path), os.O_WRONLY)
    try:
        if fallocate(fd, _FALLOC_FL_KEEP_SIZE, 0, n_bytes) == 0:
            return True
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            return False
        raise OSError(err, os.strerror(err), os.fspath(path))
    finally:
        os.close(fd)


class _Temporary:
    """What :class:`AtomicOutput` and :class:`AtomicFolder` share: a locked temporary (``tmp``, its descriptor
    ``_fd``) beside the output, published by ``commit`` on a clean exit of the ``with`` block and removed by
    ``discard`` in any case."""

    def __init__(
        self,
        path: PathLike,
        overwrite: bool,
        verify: Optional[Callable[[str], None]],
        flag: str,
        inputs: Iterable[PathLike] = (),
    ):
        self.inputs = list(inputs)
        self.path = check_output(path, overwrite, self.inputs, flag)
        self.overwrite = overwrite
        self.verify = verify
        self.flag = flag
        self.tmp: Optional[str] = None
        self._fd: Optional[int] = None

    def open(self) -> str:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> str:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()


class AtomicOutput(_Temporary):
    """One output file, written to a temporary file beside it and published only when complete and verified.

    Use as a context manager, writing to :attr:`tmp` (any library: ``open``, ``torch.save``, ``h5py``)::

        with AtomicOutput(out, overwrite=args.overwrite, inputs=[src], verify=check) as tmp:
            torch.save(obj, tmp)

    On a clean exit the data is synced, ``verify(tmp)`` (if given) checks the complete file, and it is published
    at ``path`` (see the module docstring); on an exception the temporary file is removed.

    Args:
        path: the output.
        overwrite: replace an existing ``path``; without it an existing ``path`` (checked at the start and again,
            atomically, at publication) stops the writer with :class:`OutputExistsError`.
        inputs: files the writer reads; ``path`` may be none of them.
        verify: called with the temporary path after syncing; raises if the file is not what was meant to be
            written.
        flag: how the user asks for ``overwrite`` (named in messages).
    """

    def __init__(
        self,
        path: PathLike,
        overwrite: bool = False,
        inputs: Iterable[PathLike] = (),
        verify: Optional[Callable[[str], None]] = None,
        flag: str = '--overwrite',
    ):
        super().__init__(path, overwrite, verify, flag, inputs)

    def open(self) -> str:
        """Create the temporary file (after removing stale ones of the same output); returns its path."""
        folder = osp.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            remove_stale_temps(self.path)
            while True:
                fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(self.path) + '.', suffix=TEMP_SUFFIX, dir=folder)
                fcntl.flock(fd, fcntl.LOCK_EX)  # held until published: marks the file as live
                try:
                    st, fst = os.lstat(tmp), os.fstat(fd)
                    if (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino):
                        break
                except FileNotFoundError:  # a stale-file cleaner took it before the lock; make another
                    pass
                os.close(fd)
            os.fchmod(fd, umask_mode())
        except OSError as err:
            raise OutputError(self.path, err) from err
        self._fd, self.tmp = fd, tmp
        return tmp

    def commit(self) -> None:
        """Sync, verify and publish the temporary file at :attr:`path` (:meth:`seal`, then :meth:`publish`)."""
        self.seal()
        self.publish()

    def seal(self) -> None:
        """Sync and verify the complete temporary file, without publishing it yet.

        A writer of several outputs that belong together (a converted subject file and the files beside it, or
        several subjects) seals them all, then publishes them one after the other, so that a failure in any of
        them publishes none.
        """
        try:
            os.fsync(self._fd)
        except OSError as err:
            raise OutputError(self.path, err) from err
        if self.verify is not None:
            self.verify(self.tmp)

    def publish(self) -> None:
        """Rename the sealed temporary file to :attr:`path` (without replacing it unless ``overwrite``)."""
        for src in self.inputs:  # the output may have become a link to an input meanwhile
            if same_file(self.path, src):
                raise SameFileError(f'{self.path}: is the input {os.fspath(src)}; refusing to replace an input')
        try:
            if self.overwrite:
                os.replace(self.tmp, self.path)
            else:
                _rename_noreplace(self.tmp, self.path)
        except FileExistsError as err:
            raise OutputExistsError(
                f'{self.path}: already exists (another run wrote it meanwhile?); pass {self.flag} to replace it'
            ) from err
        except OSError as err:
            raise OutputError(self.path, err) from err
        self.tmp = None
        try:
            _fsync_folder(osp.dirname(self.path))
        except OSError as err:
            raise OutputError(self.path, err) from err
        finally:
            self._close()

    def discard(self) -> None:
        """Remove the temporary file (if not published); idempotent."""
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None
        self._close()


@contextmanager
def atomic_write(
    path: PathLike,
    mode: str = 'w',
    *,
    overwrite: bool = True,
    inputs: Iterable[PathLike] = (),
    verify: Optional[Callable[[str], None]] = None,
    flag: str = '--overwrite',
) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; publish it at ``path`` when the block succeeds.

    The file object is flushed and closed (so a failed flush is an error, not a truncated file) before
    :class:`AtomicOutput` syncs, verifies and publishes it. Missing parent folders are created. If the block raises,
    the temporary file is removed and ``path`` is left as it was.

    Args:
        path: Destination.
        mode: ``'w'`` (text) or ``'wb'`` (binary).
        overwrite: replace an existing ``path``. The default suits files a run owns (its report, figures,
            records); a tool writing a user's output passes its ``--overwrite`` flag.
        inputs: files the block reads; ``path`` may be none of them.
        verify: checks the complete temporary file (see :class:`AtomicOutput`).
        flag: how the user asks for ``overwrite``.

    Example:
        >>> with atomic_write('out.json') as f:
        ...     json.dump(obj, f)
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    out = AtomicOutput(path, overwrite=overwrite, inputs=inputs, verify=verify, flag=flag)
    with out as tmp:
        try:
            with open(tmp, mode) as f:
                yield f
                f.flush()
        except OSError as err:
            error = storage_error(out.path, err)
            if error is None:
                raise
            raise error from err


def sync_tree(folder: PathLike) -> None:
    """``fsync`` every regular file and every folder under ``folder`` (links are not followed), then ``folder``."""
    folder = os.fspath(folder)
    for parent, _, files in os.walk(folder, topdown=False):
        for name in files:
            path = osp.join(parent, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_folder(parent)


def publish_folder(src: PathLike, dst: PathLike, overwrite: bool = False, flag: str = '--overwrite') -> None:
    """Publish the complete folder ``src`` at ``dst`` (same file system): sync it, then rename it into place.

    Without ``overwrite`` the rename fails when ``dst`` exists (no two runs both publish). With ``overwrite`` an
    existing ``dst`` is moved aside into a locked ``.<name>.XXXXXXXX.replaced`` folder, ``src`` is renamed in and the
    old folder is deleted; if the rename fails the old folder is put back. A kill in between leaves the old folder
    aside (no output, never a mix), and the next call for ``dst`` (or :func:`remove_stale_temps`) removes it.

    Raises:
        OutputExistsError: ``dst`` exists and ``overwrite`` is False (or another run published it meanwhile).
        OutputError: the storage failed; the message names ``dst``.
    """
    src, dst = osp.abspath(os.fspath(src)), osp.abspath(os.fspath(dst))
    parent = osp.dirname(dst)
    try:
        remove_stale_temps(dst)
        sync_tree(src)
        if not (overwrite and osp.lexists(dst)):
            _rename_noreplace(src, dst)
        else:
            aside = tempfile.mkdtemp(prefix='.' + osp.basename(dst) + '.', suffix=REPLACED_SUFFIX, dir=parent)
            fd = _lock(aside, folder=True)
            try:
                old = osp.join(aside, 'old')
                os.rename(dst, old)
                try:
                    _rename_noreplace(src, dst)
                except BaseException:
                    os.rename(old, dst)
                    raise
                _fsync_folder(parent)
                shutil.rmtree(aside)
            finally:
                os.close(fd)
        _fsync_folder(parent)
    except FileExistsError as err:
        raise OutputExistsError(
            f'{dst}: already exists (another run wrote it meanwhile?); pass {flag} to replace it'
        ) from err
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise OutputError(dst, err) from err


class AtomicFolder(_Temporary):
    """One output folder, built in a temporary folder beside it and published only when complete and verified.

    Use as a context manager, writing anything under the yielded temporary folder::

        with AtomicFolder(out, overwrite=args.overwrite, verify=check) as tmp:
            write_everything(tmp)

    On a clean exit ``verify(tmp)`` (if given) checks the complete folder and :func:`publish_folder` syncs and
    publishes it at ``path``; on an exception the temporary folder is removed and ``path`` is left as it was.

    Args:
        path: the output folder.
        overwrite: replace an existing ``path`` (checked at the start and again, atomically, at publication).
        verify: called with the temporary folder; raises if it is not what was meant to be written.
        flag: how the user asks for ``overwrite`` (named in messages).
    """

    def __init__(
        self,
        path: PathLike,
        overwrite: bool = False,
        verify: Optional[Callable[[str], None]] = None,
        flag: str = '--overwrite',
    ):
        super().__init__(path, overwrite, verify, flag)

    def open(self) -> str:
        """Create the temporary folder, with the mode ``mkdir`` would give (after removing stale ones)."""
        parent = osp.dirname(self.path)
        try:
            os.makedirs(parent, exist_ok=True)
            remove_stale_temps(self.path)
            tmp = tempfile.mkdtemp(prefix='.' + osp.basename(self.path) + '.', suffix=TEMP_SUFFIX, dir=parent)
            self._fd, self.tmp = _lock(tmp, folder=True), tmp
            os.chmod(tmp, umask_mode(folder=True))  # mkdtemp makes 0700
        except OSError as err:
            raise OutputError(self.path, err) from err
        return tmp

    def commit(self) -> None:
        """Verify, sync and publish the temporary folder at :attr:`path`."""
        if self.verify is not None:
            self.verify(self.tmp)
        publish_folder(self.tmp, self.path, self.overwrite, self.flag)
        self.tmp = None

    def discard(self) -> None:
        """Remove the temporary folder (if not published); idempotent."""
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        self._close()

# Copyright (c) mmbrain contributors. All rights reserved.
"""Publishing outputs safely: a reader (or a later run) sees the old file or the complete new one, never half of one.

Every mmbrain writer (converted subject files, backbone checkpoints, COCO annotation files, reports, figures)
goes through :class:`AtomicOutput`, which

1. refuses, before anything is written, an output that exists (unless ``overwrite``) or that is one of the
   writer's own inputs (:func:`check_output`: same real path or same device and inode, so symlinks cannot fool it);
2. writes to a temporary file ``.<name>.XXXXXXXX.partial`` in the output's own folder, created with the mode the
   umask gives (as ``open`` would) and locked (``flock``) while it is being written;
3. on success syncs the file, runs the writer's check of the complete file, and publishes it: without
   ``overwrite`` by a rename that fails when the name exists (``renameat2(RENAME_NOREPLACE)``, or ``link`` +
   ``unlink``), so two runs writing the same output cannot both succeed; then syncs the folder;
4. on failure removes the temporary file and leaves the output as it was.

Temporary files that an interrupted writer left behind are removed by the next writer of the same output (only
files of that exact pattern whose writer is gone, i.e. whose lock can be taken). A folder that cannot be written
(read-only, full, ...) raises :class:`OutputError`, whose message is one line naming the path.
"""

import ctypes
import errno
import fcntl
import os
import os.path as osp
import re
import stat
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

__all__ = [
    'AtomicOutput',
    'OutputError',
    'OutputExistsError',
    'SameFileError',
    'STORAGE_ERRNOS',
    'atomic_write',
    'check_output',
    'remove_stale_temps',
    'same_file',
    'storage_error',
    'umask_mode',
    'verify_hdf5',
]

PathLike = Union[str, os.PathLike]

TEMP_SUFFIX = '.partial'
# tempfile.mkstemp's random part: 8 characters of this alphabet.
_TEMP_RANDOM = r'[a-z0-9_]{8}'


def _reason(cause: BaseException) -> str:
    """One line saying why a write failed (HDF5's multi-line messages reduced to the system's error text)."""
    text = str(cause)
    hdf5 = re.search(r"error message = '([^']*)'", text)  # HDF5: "... errno = 28, error message = 'No space ...'"
    if hdf5:
        return hdf5.group(1)
    return getattr(cause, 'strerror', None) or ' '.join(text.split())[:200]


class OutputError(OSError):
    """An output cannot be written (read-only or full folder, ...). ``str()`` is one line naming the path."""

    def __init__(self, path: str, cause: BaseException):
        super().__init__(f'{path}: cannot write the output ({_reason(cause)})')
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


def _temp_pattern(path: str) -> 're.Pattern':
    return re.compile(re.escape('.' + osp.basename(path) + '.') + _TEMP_RANDOM + re.escape(TEMP_SUFFIX))


def remove_stale_temps(path: PathLike) -> List[str]:
    """Remove the temporary files that interrupted writers of ``path`` left in its folder.

    Only regular files named like this module's temporaries of exactly ``path`` are touched, and only when no live
    writer holds them (their ``flock`` can be taken).

    Returns:
        The removed paths.
    """
    path = osp.abspath(os.fspath(path))
    folder = osp.dirname(path)
    pattern = _temp_pattern(path)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not pattern.fullmatch(name):
            continue
        candidate = osp.join(folder, name)
        try:
            if not stat.S_ISREG(os.lstat(candidate).st_mode):
                continue
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            st, fst = os.lstat(candidate), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino):
                os.unlink(candidate)
                removed.append(candidate)
        except OSError:  # locked by a live writer, or gone meanwhile
            pass
        finally:
            os.close(fd)
    return removed


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst``, failing with FileExistsError when ``dst`` exists (atomically)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, 'renameat2', None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), dst)
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


def verify_hdf5(
    path: str,
    shapes: Optional[Mapping[str, Sequence[int]]] = None,
    attrs: Optional[Mapping[str, Any]] = None,
    name: Optional[str] = None,
) -> None:
    """Reopen a written HDF5 file and check that it is complete, before it is published.

    h5py reports a failed write late or not at all (a full disk can leave metadata or data past the end of the
    file), so this checks what a reader will see: the file opens, the root ``attrs`` and the ``shapes`` of the named
    datasets are as written, and every dataset's stored bytes (contiguous data, or each chunk) lie inside the file.

    Args:
        path: the (temporary) file.
        shapes: ``{dataset name: shape}`` that must exist.
        attrs: root attributes that must have these values.
        name: the output's final path, for messages (default ``path``).

    Raises:
        ValueError: the file is incomplete or not as written; the message names ``name`` and the problem.
    """
    import h5py
    import numpy as np

    name = name or path
    problems: List[str] = []
    size = os.path.getsize(path)

    def check_extent(key: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        offset = obj.id.get_offset()
        if offset is not None and offset + obj.id.get_storage_size() > size:
            problems.append(f'{key}: data past the end of the file')
        elif obj.chunks is not None:
            for i in range(obj.id.get_num_chunks()):
                info = obj.id.get_chunk_info(i)
                if info.byte_offset + info.size > size:
                    problems.append(f'{key}: chunk {i} past the end of the file')
                    break

    try:
        with h5py.File(path, 'r', locking=False) as f:
            for key, value in (attrs or {}).items():
                if key not in f.attrs or not np.array_equal(np.asarray(f.attrs[key]), np.asarray(value)):
                    problems.append(f'root attribute {key} is {f.attrs.get(key)!r}, written {value!r}')
            for key, shape in (shapes or {}).items():
                if key not in f:
                    problems.append(f'{key}: missing')
                elif tuple(f[key].shape) != tuple(shape):
                    problems.append(f'{key}: shape {tuple(f[key].shape)}, written {tuple(shape)}')
            f.visititems(check_extent)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise ValueError(f'{name}: the written HDF5 file does not read back ({_reason(exc)})') from exc
    if problems:
        raise ValueError(f'{name}: the written HDF5 file is incomplete: ' + '; '.join(problems[:5]))


class AtomicOutput:
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
        self.inputs = list(inputs)
        self.path = check_output(path, overwrite, self.inputs, flag)
        self.overwrite = overwrite
        self.verify = verify
        self.flag = flag
        self.tmp: Optional[str] = None
        self._fd: Optional[int] = None

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
        """Sync, verify and publish the temporary file at :attr:`path`."""
        try:
            os.fsync(self._fd)
        except OSError as err:
            raise OutputError(self.path, err) from err
        if self.verify is not None:
            self.verify(self.tmp)
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

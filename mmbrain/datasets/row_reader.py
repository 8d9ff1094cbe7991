# Copyright (c) mmbrain contributors. All rights reserved.
"""Cheap, fork-safe reads of single rows of HDF5 datasets (a trial's betas, a stimulus image).

A row of a contiguous, uncompressed HDF5 dataset is one ``os.pread`` at ``offset + row * row_bytes``: a few
microseconds, no HDF5 call, and no page cache held by the process (memory stays flat however large the files).
Chunked or compressed datasets (NSD's own ``nsd_stimuli.hdf5`` may be) fall back to h5py slicing.

Readers open their file lazily in the process that reads and reopen after a fork (:func:`get_row_reader` keeps
one cache per process), so a dataset can be created in the main process and read in DataLoader workers without
sharing an HDF5 handle across the fork.
"""

import os
from typing import Dict, Tuple

import numpy as np


class H5RowReader:
    """Read rows ``ds[i]`` of one HDF5 dataset.

    Args:
        path: the HDF5 file.
        name: the dataset inside it.
    """

    def __init__(self, path: str, name: str):
        import h5py

        self.path = path
        self.name = name
        try:
            self._file = h5py.File(path, 'r')
        except OSError as exc:
            raise OSError(f'{path}: not a readable HDF5 file ({exc})') from exc
        ds = self._file[name]
        self.shape: Tuple[int, ...] = tuple(ds.shape)
        self.dtype = np.dtype(ds.dtype)
        self._row_shape = self.shape[1:]
        self._row_bytes = int(np.prod(self._row_shape, dtype=np.int64)) * self.dtype.itemsize
        offset = ds.id.get_offset()
        if ds.chunks is None and ds.compression is None and offset is not None and self.dtype.isnative:
            self._offset = int(offset)
            self._fd = os.open(path, os.O_RDONLY)
            self._file.close()
            self._file = None
            self._ds = None
        else:
            self._offset = None
            self._fd = None
            self._ds = ds

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, row: int) -> np.ndarray:
        row = int(row)
        if not 0 <= row < self.shape[0]:
            raise IndexError(f'{self.path}:{self.name}: row {row} out of range 0..{self.shape[0] - 1}')
        if self._fd is None:
            try:
                return self._ds[row]
            except OSError as exc:  # e.g. a corrupted chunk index: name the file, not only HDF5's reason
                raise OSError(f'{self.path}:{self.name}: cannot read row {row}, the file is damaged ({exc})') from exc
        out = np.empty(self._row_shape, self.dtype)
        if os.preadv(self._fd, [out], self._offset + row * self._row_bytes) != self._row_bytes:
            raise OSError(f'{self.path}:{self.name}: short read of row {row} (file truncated?)')
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._file is not None:
            self._file.close()
            self._file = None


_cache: Dict[Tuple[str, str], H5RowReader] = {}
# A forked child (a DataLoader worker) never uses its parent's handles: it opens its own on first use.
os.register_at_fork(after_in_child=_cache.clear)


def get_row_reader(path: str, name: str) -> H5RowReader:
    """The current process's reader of ``path:name`` (created on first use, recreated after a fork)."""
    key = (path, name)
    reader = _cache.get(key)
    if reader is None:
        reader = _cache[key] = H5RowReader(path, name)
    return reader

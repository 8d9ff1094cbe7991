# Copyright (c) mmbrain contributors. All rights reserved.
"""The converted per-subject file ``subjXX.h5`` (schema version 1, ``docs/architecture.md``).

Layout::

    attrs: format="mmbrain-nsd", version=1, subject, space, zscore ("session"/"none"), averaged
    nsd_id      int32 (rows,)     0-based row of the stimuli
    session     int16 (rows,)     1-based session (0 where rows are averaged repetitions)
    shared1000  bool  (rows,)
    n_repeats   int8  (rows,)     trials averaged into each row (1 for single trials, 0 if unknown)
    rois/G/betas float32 (rows, V_G)    contiguous, so a row is one cheap read
    rois/G/ijk   int16   (V_G, 3)       voxel (i, j, k) of the NIfTI grid, ascending C order (volume spaces)
    rois/G/vertex int32  (V_G,)         fsaverage vertex, lh then rh, ascending (space "fsaverage")
    rois/G/hemi  int8    (V_G,)         0 = lh, 1 = rh (space "fsaverage")
    rois/G/xyz   float32 (V_G, 3)       millimetres through the NIfTI affine (absent without coordinates)
    rois/G/label int8    (V_G,)         attr rois/G.attrs["label_names"] indexed by label value
    rois/G/ncsnr float32 (V_G,)         noise-ceiling SNR from repeated images, when estimable

Both writers (NSD and Algonauts converters) go through :class:`ConvertedSubjectWriter`, which writes to a
temporary file in the output folder and renames it into place only when complete.
"""

import os
import os.path as osp
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np

FORMAT = 'mmbrain-nsd'
VERSION = 1


def converted_path(out_dir: str, subject: int) -> str:
    return osp.join(out_dir, f'subj{subject:02d}.h5')


class ConvertedFormatError(ValueError):
    """A converted file is missing or not of the schema this version of mmbrain reads."""


class ConvertedSubjectWriter:
    """Write one subject's converted file atomically.

    Use as a context manager: on a clean exit the temporary file is renamed to ``path`` (replacing an existing
    file only when ``overwrite``); on any exception it is deleted and ``path`` is left untouched.

    Args:
        path: final ``subjXX.h5`` path.
        subject: 1-based subject number.
        space: ``func1pt8mm``, ``func1mm`` or ``fsaverage``.
        zscore: ``"session"`` or ``"none"``.
        averaged: whether rows are averaged repetitions.
        overwrite: allow replacing an existing file.
    """

    def __init__(self, path: str, subject: int, space: str, zscore: str, averaged: bool, overwrite: bool = False):
        if zscore not in ('session', 'none'):
            raise ValueError(f'zscore must be "session" or "none", got {zscore!r}')
        self.path = path
        self.overwrite = overwrite
        self._attrs = dict(format=FORMAT, version=VERSION, subject=int(subject), space=space, zscore=zscore,
                           averaged=bool(averaged))
        self._tmp: Optional[str] = None
        self.file = None

    def __enter__(self) -> 'ConvertedSubjectWriter':
        import h5py
        if osp.exists(self.path) and not self.overwrite:
            raise FileExistsError(f'{self.path}: already exists (pass --overwrite to replace it)')
        out_dir = osp.dirname(osp.abspath(self.path))
        os.makedirs(out_dir, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f'.{osp.basename(self.path)}.', suffix='.partial', dir=out_dir)
        os.close(fd)
        self.file = h5py.File(self._tmp, 'w')
        self.file.attrs.update(self._attrs)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.file.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)

    def write_rows(self, nsd_id: np.ndarray, session: np.ndarray, shared1000: np.ndarray,
                   n_repeats: np.ndarray) -> None:
        """Write the per-row index arrays (all of the same length)."""
        f = self.file
        f.create_dataset('nsd_id', data=np.asarray(nsd_id, dtype=np.int32))
        f.create_dataset('session', data=np.asarray(session, dtype=np.int16))
        f.create_dataset('shared1000', data=np.asarray(shared1000, dtype=bool))
        f.create_dataset('n_repeats', data=np.asarray(n_repeats, dtype=np.int8))

    def create_group(self, name: str, n_rows: int, label: np.ndarray, label_names: Sequence[str],
                     ijk: Optional[np.ndarray] = None, xyz: Optional[np.ndarray] = None,
                     vertex: Optional[np.ndarray] = None, hemi: Optional[np.ndarray] = None):
        """Create ``rois/<name>`` with its voxel (or vertex) tables and an empty contiguous ``betas`` (rows, V).

        Args:
            name: ROI group.
            n_rows: rows of ``betas``.
            label: (V,) label value of each voxel; ``label_names[v]`` names value v.
            ijk: (V, 3) voxel indices of a volume space.
            xyz: (V, 3) millimetre coordinates, when known.
            vertex / hemi: (V,) fsaverage vertex index within its hemisphere and hemisphere (0 lh, 1 rh), for
                surface spaces (instead of ``ijk``).

        Returns:
            the ``betas`` h5py dataset, zero-filled until written, for the caller to fill (row blocks, any order).
        """
        g = self.file.create_group(f'rois/{name}')
        g.attrs['label_names'] = np.array(list(label_names), dtype=object)
        g.create_dataset('label', data=np.asarray(label, dtype=np.int8))
        if ijk is not None:
            g.create_dataset('ijk', data=np.asarray(ijk, dtype=np.int16))
        if vertex is not None:
            g.create_dataset('vertex', data=np.asarray(vertex, dtype=np.int32))
            g.create_dataset('hemi', data=np.asarray(hemi, dtype=np.int8))
        if xyz is not None:
            g.create_dataset('xyz', data=np.asarray(xyz, dtype=np.float32))
        # Contiguous (no chunks, no compression): a row is one read at a computable offset (see row_reader.py).
        return g.create_dataset('betas', shape=(n_rows, len(label)), dtype=np.float32, fillvalue=0)

    def write_ncsnr(self, name: str, ncsnr: np.ndarray) -> None:
        self.file[f'rois/{name}'].create_dataset('ncsnr', data=np.asarray(ncsnr, dtype=np.float32))


def check_converted(path: str) -> Dict[str, object]:
    """Open a converted file, check format and version, and return its root attributes and groups."""
    import h5py
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file not found (convert NSD first: tools/dataset_converters/'
                                f'nsd_to_mmbrain.py)')
    try:
        with h5py.File(path, 'r') as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            groups = list(f['rois'].keys()) if 'rois' in f else []
    except OSError as exc:
        raise ConvertedFormatError(f'{path}: not a readable HDF5 file ({exc})') from exc
    if attrs.get('format') != FORMAT:
        raise ConvertedFormatError(f'{path}: format attribute is {attrs.get("format")!r}, expected {FORMAT!r}')
    if int(attrs.get('version', -1)) != VERSION:
        raise ConvertedFormatError(f'{path}: schema version {attrs.get("version")}, this mmbrain reads {VERSION}')
    attrs['groups'] = groups
    return attrs

# Copyright (c) mmbrain contributors. All rights reserved.
"""The converted per-subject file ``subjXX.h5`` (schema version 2, ``docs/architecture.md``): its one writer
(:class:`ConvertedSubjectWriter`) and its one reader (:class:`ConvertedSubject`).

Layout::

    attrs: format="mmbrain-nsd", version=2, subject, space, zscore ("session"/"none"), averaged
           (version 2) betas_version, rois_source, ncsnr_source ("nsd"/"estimated", absent without ncsnr),
           grid_shape int (3,) (volume spaces), surface_vertices int (2,) (fsaverage: vertices of lh, rh;
           files of earlier converters stored them as grid_shape), coordinate_space ("native": the subject's
           scanner mm, "MNI152", "fsaverage"; absent in earlier files: native for volumes)
    affine      float64 (4, 4)    (version 2, volume spaces) voxel (i, j, k, 1) -> scanner mm of the source NIfTI
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
temporary file in the output folder and publishes it only when complete, synced and read back
(:mod:`mmbrain.utils.atomic`, checked by :func:`verify_hdf5`). Every reader (datasets,
transforms, metrics, tools) goes through :class:`ConvertedSubject`, which reads version 1 and 2 files; a feature
that needs version-2 fields asks for them with :meth:`ConvertedSubject.require_version`.

Files saved beside ``subjXX.h5`` (their names are spelled here only): the subject's anatomy on the same grid,
``subjXX_anatomy.nii.gz`` (:func:`anatomy_path`, volume spaces), and the fsaverage meshes ``subjXX_lh.surf.gii``,
``subjXX_rh.surf.gii`` (:func:`mesh_path`), the backgrounds of result maps.
"""

import os
import os.path as osp
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..utils.atomic import AtomicOutput, OutputError, failure_reason, reserve_space, storage_error

FORMAT = 'mmbrain-nsd'
#: The schema version the writer writes.
VERSION = 2
#: The schema versions the reader reads.
READABLE_VERSIONS = (1, 2)
#: Where ``rois/G/ncsnr`` came from (root attr ``ncsnr_source``, version 2).
NCSNR_SOURCES = ('nsd', 'estimated')
#: Frames of ``rois/G/xyz`` (root attr ``coordinate_space``): the subject's own scanner millimetres, MNI152
#: millimetres (common to all subjects), fsaverage surface millimetres (common to all subjects).
COORDINATE_SPACES = ('native', 'MNI152', 'fsaverage')


def subject_tag(subject: int) -> str:
    """``'subj03'`` for subject 3: the one place that spells NSD's subject names (files, folders, metric keys)."""
    return f'subj{int(subject):02d}'


def subject_file_name(subject: int) -> str:
    """``'subj03.h5'``: the converted file of a subject."""
    return f'{subject_tag(subject)}.h5'


def converted_path(out_dir: str, subject: int) -> str:
    """``<out_dir>/subjXX.h5``."""
    return osp.join(out_dir, subject_file_name(subject))


def anatomy_path(subject_file: str) -> str:
    """The anatomy saved beside a converted volume-space file: ``subjXX.h5`` -> ``subjXX_anatomy.nii.gz``."""
    return osp.splitext(subject_file)[0] + '_anatomy.nii.gz'


def mesh_path(subject_file: str, hemi: str) -> str:
    """The fsaverage mesh saved beside a converted surface file: ``subjXX.h5`` -> ``subjXX_lh.surf.gii``."""
    return osp.splitext(subject_file)[0] + f'_{hemi}.surf.gii'


#: Vertices per hemisphere of FreeSurfer's fsaverage (surface files that do not record their counts).
FSAVERAGE_VERTICES = 163842


class ConvertedFormatError(ValueError):
    """A converted file is missing or not of the schema this version of mmbrain reads."""


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
        raise ValueError(f'{name}: the written HDF5 file does not read back ({failure_reason(exc)})') from exc
    if problems:
        raise ValueError(f'{name}: the written HDF5 file is incomplete: ' + '; '.join(problems[:5]))


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
        affine: (4, 4) voxel-to-millimetre affine of the source NIfTI grid (volume spaces; version 2).
        grid_shape: (X, Y, Z) of that grid (volume spaces; version 2).
        surface_vertices: (lh, rh) vertex counts of the surface the vertices index (space ``fsaverage``).
        coordinate_space: the frame of ``rois/G/xyz``, one of :data:`COORDINATE_SPACES`.
        reserve_bytes: disk space to reserve before writing (:meth:`expected_bytes`): a full disk, a quota or
            ``ulimit -f`` then stop the writer before HDF5 writes anything (HDF5 does not survive a failed write
            mid-file: its objects stay half-closed and h5py crashes freeing them).
        defer: on a clean exit only seal the file (synced and verified); the caller then calls :meth:`publish` (or
            :meth:`discard`), so that several outputs that belong together are published only when all are sealed.
        betas_version: the NSD beta preparation converted, e.g. ``betas_fithrf_GLMdenoise_RR`` (version 2).
        rois_source: where the ROI masks came from, e.g. ``nsddata/ppdata/subj01/func1pt8mm/roi`` (version 2).
        ncsnr_source: ``nsd`` (NSD's own ncsnr maps) or ``estimated`` (from the repeated images); None when no
            ``rois/G/ncsnr`` is written (version 2).
    """

    def __init__(
        self,
        path: str,
        subject: int,
        space: str,
        zscore: str,
        averaged: bool,
        overwrite: bool = False,
        affine: Optional[np.ndarray] = None,
        grid_shape: Optional[Sequence[int]] = None,
        betas_version: Optional[str] = None,
        rois_source: Optional[str] = None,
        ncsnr_source: Optional[str] = None,
        surface_vertices: Optional[Sequence[int]] = None,
        coordinate_space: Optional[str] = None,
        defer: bool = False,
        reserve_bytes: int = 0,
    ):
        if zscore not in ('session', 'none'):
            raise ValueError(f'zscore must be "session" or "none", got {zscore!r}')
        if ncsnr_source not in (None,) + NCSNR_SOURCES:
            raise ValueError(f'ncsnr_source must be one of {NCSNR_SOURCES} or None, got {ncsnr_source!r}')
        if affine is not None:
            affine = np.asarray(affine, dtype=np.float64)
            if affine.shape != (4, 4):
                raise ValueError(f'affine must be 4x4, got shape {affine.shape}')
        if grid_shape is not None and len(grid_shape) != 3:
            raise ValueError(f'grid_shape must be (X, Y, Z), got {tuple(grid_shape)}')
        if coordinate_space not in (None,) + COORDINATE_SPACES:
            raise ValueError(f'coordinate_space must be one of {COORDINATE_SPACES}, got {coordinate_space!r}')
        if surface_vertices is not None and len(surface_vertices) != 2:
            raise ValueError(f'surface_vertices must be (lh, rh) vertex counts, got {tuple(surface_vertices)}')
        self.path = path
        self.overwrite = overwrite
        self.defer = defer
        self.reserve_bytes = int(reserve_bytes)
        self._attrs = dict(
            format=FORMAT, version=VERSION, subject=int(subject), space=space, zscore=zscore, averaged=bool(averaged)
        )
        optional = dict(
            betas_version=betas_version,
            rois_source=rois_source,
            ncsnr_source=ncsnr_source,
            coordinate_space=coordinate_space,
            grid_shape=None if grid_shape is None else np.asarray(grid_shape, dtype=np.int64),
            surface_vertices=None if surface_vertices is None else np.asarray(surface_vertices, dtype=np.int64),
        )
        self._attrs.update({k: v for k, v in optional.items() if v is not None})
        self._affine = affine
        self._tmp: Optional[str] = None
        self.file = None

    def __enter__(self) -> 'ConvertedSubjectWriter':
        import h5py

        self._output = AtomicOutput(self.path, overwrite=self.overwrite)  # refuses an existing path early
        self._tmp = self._output.open()  # also removes what an interrupted converter left of this file
        try:
            reserve_space(self._tmp, self.reserve_bytes)
        except OSError as err:
            self._output.discard()
            raise OutputError(self.path, err) from err
        try:  # HDF5's own file lock is off: AtomicOutput holds one on the temporary file while it is written.
            self.file = h5py.File(self._tmp, 'w', locking=False)
            self.file.attrs.update(self._attrs)
            if self._affine is not None:
                self.file.create_dataset('affine', data=self._affine)
        except BaseException as exc:
            if self.file is not None:
                self._close_quietly()
            self._output.discard()
            error = storage_error(self.path, exc)
            if error is not None:
                raise error from exc
            raise
        return self

    @staticmethod
    def expected_bytes(n_rows: int, voxel_counts: Sequence[int]) -> int:
        """Bytes a converted file of ``n_rows`` rows and ROI groups of ``voxel_counts`` voxels takes at most: the
        betas (float32), the per-voxel tables (ijk or vertex + hemi, xyz, label, ncsnr), the row datasets, and a
        margin for HDF5's metadata."""
        voxels = int(sum(voxel_counts))
        data = 4 * n_rows * voxels + (6 + 12 + 1 + 4 + 1) * voxels + 8 * n_rows
        return data + max(512 << 10, data // 100) + (32 << 10) * len(voxel_counts)

    def __exit__(self, exc_type, exc, tb) -> None:
        """Publish through :class:`~mmbrain.utils.atomic.AtomicOutput`: flush (h5py's ``close()`` can swallow a
        failed write, e.g. a full disk), fsync, reopen and compare with what was written (:func:`verify_hdf5`), then
        rename without replacing an existing file unless ``overwrite`` (with ``defer``: later, by :meth:`publish`).
        On failure nothing is published."""
        sealed = False
        try:
            if exc_type is not None:
                self._close_quietly()
                error = storage_error(self.path, exc)
                if error is not None:
                    raise error from exc
                return
            try:
                shapes = self._written_shapes()
                self.file.flush()
                self.file.close()
                os.truncate(self._tmp, os.path.getsize(self._tmp))  # gives back the reserved blocks not used
            except BaseException as err:
                self._close_quietly()
                if isinstance(err, (OSError, RuntimeError)):  # h5py's write errors
                    raise OutputError(self.path, err) from err
                raise
            self._output.verify = lambda tmp: verify_hdf5(tmp, shapes, self._attrs, name=self.path)
            self._output.seal()
            if not self.defer:
                self._output.publish()
            sealed = True
        finally:
            if not (self.defer and sealed):
                self._output.discard()

    def publish(self) -> None:
        """Publish the sealed file of a writer made with ``defer=True`` (after its block ended without error)."""
        self._output.publish()

    def discard(self) -> None:
        """Remove the sealed, unpublished file of a writer made with ``defer=True``; idempotent."""
        self._output.discard()

    def _close_quietly(self) -> None:
        """Close after a failure. The temporary file is emptied first: its blocks are free again, so HDF5 can write
        what it still holds (on a full disk a failed close leaves the file's objects half-closed, and h5py
        crashes freeing the converter's datasets later); its content is discarded anyway."""
        try:
            os.truncate(self._tmp, 0)
            self.file.close()
        except Exception:  # noqa: BLE001 - already failing; the temporary file is removed next
            pass

    def _written_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """Every dataset's shape as the writer made it, after checking the schema's row and voxel counts."""
        import h5py

        shapes: Dict[str, Tuple[int, ...]] = {}
        self.file.visititems(
            lambda key, obj: shapes.update({key: obj.shape}) if isinstance(obj, h5py.Dataset) else None
        )
        missing = [key for key in ('nsd_id', 'session', 'shared1000') if key not in shapes]
        if missing:
            raise ConvertedFormatError(f'{self.path}: the converter wrote no {missing} row datasets')
        for group in self.file.get('rois', {}):
            betas, label = shapes.get(f'rois/{group}/betas'), shapes.get(f'rois/{group}/label')
            if betas is None or label is None or betas != (shapes['nsd_id'][0], label[0]):
                raise ConvertedFormatError(
                    f'{self.path}: rois/{group}/betas has shape {betas}, expected (rows, '
                    f'voxels) = ({shapes["nsd_id"][0]}, {label and label[0]})'
                )
        return shapes

    def write_rows(
        self, nsd_id: np.ndarray, session: np.ndarray, shared1000: np.ndarray, n_repeats: np.ndarray
    ) -> None:
        """Write the per-row index arrays (all of the same length)."""
        f = self.file
        f.create_dataset('nsd_id', data=np.asarray(nsd_id, dtype=np.int32))
        f.create_dataset('session', data=np.asarray(session, dtype=np.int16))
        f.create_dataset('shared1000', data=np.asarray(shared1000, dtype=bool))
        f.create_dataset('n_repeats', data=np.asarray(n_repeats, dtype=np.int8))

    def create_group(
        self,
        name: str,
        n_rows: int,
        label: np.ndarray,
        label_names: Sequence[str],
        ijk: Optional[np.ndarray] = None,
        xyz: Optional[np.ndarray] = None,
        vertex: Optional[np.ndarray] = None,
        hemi: Optional[np.ndarray] = None,
    ):
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


def _text(value: Any) -> Any:
    """An HDF5 attribute as Python: bytes decoded, numpy scalars unwrapped."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


class ConvertedSubject:
    """The one reader of a converted subject file ``subjXX.h5`` (schema versions 1 and 2).

    Opening checks the format and version and reads the root attributes, the ROI groups and their voxel counts;
    arrays are read on request (each call opens the file briefly, so an instance can cross a DataLoader fork).
    Every error names the file.

    Args:
        path: the converted file.

    Attributes:
        path, version, subject, space, zscore, averaged: the file and its root attributes (``attrs``: all of them).
        groups: ROI group names, in the file's (h5py's) order; voxel_counts: ``{group: V_G}``; n_rows: rows.
        affine, grid_shape, betas_version, ncsnr_source, rois_source: version 2, None when absent (volume spaces
            only for ``affine`` (4, 4) float64 and ``grid_shape``).
        surface_vertices: (lh, rh) vertex counts of the surface (space ``fsaverage``; fsaverage's own counts for
            files that do not record them), else None.
        coordinate_space: the frame of ``xyz`` (:data:`COORDINATE_SPACES`; files that do not record it: ``native``
            for volume spaces, ``fsaverage`` for the surface).

    Raises:
        FileNotFoundError: no such file.
        ConvertedFormatError: not HDF5, not of format ``mmbrain-nsd``, or of a version this mmbrain does not read.
    """

    def __init__(self, path: str):
        self.path = str(path)
        if not osp.isfile(self.path):
            raise FileNotFoundError(
                f'{self.path}: file not found (convert NSD first: tools/dataset_converters/nsd_to_mmbrain.py)'
            )
        with self._h5('its header and ROI groups') as f:
            self.attrs: Dict[str, Any] = {k: _text(v) for k, v in f.attrs.items()}
            self._check_header()
            rois = f['rois'] if 'rois' in f else {}
            self.groups: List[str] = list(rois.keys())
            self.voxel_counts: Dict[str, int] = {}
            for g in self.groups:
                if 'betas' not in rois[g] or 'label' not in rois[g]:
                    raise ConvertedFormatError(f'{self.path}: rois/{g} has no betas or label dataset')
                self.voxel_counts[g] = int(rois[g]['betas'].shape[1])
            missing = [k for k in ('nsd_id', 'session', 'shared1000') if k not in f]
            if missing:
                raise ConvertedFormatError(f'{self.path}: no {missing} row datasets')
            self.n_rows = int(f['nsd_id'].shape[0])
            self.affine: Optional[np.ndarray] = np.asarray(f['affine'][()], dtype=np.float64) if 'affine' in f else None
        self._cache: Dict[str, Optional[np.ndarray]] = {}

    def _check_header(self) -> None:
        fmt = self.attrs.get('format')
        if fmt != FORMAT:
            raise ConvertedFormatError(
                f'{self.path}: format attribute is {fmt!r}, expected {FORMAT!r} (not a converted mmbrain subject file)'
            )
        try:
            version = int(self.attrs.get('version'))
        except (TypeError, ValueError):
            version = None
        if version not in READABLE_VERSIONS:
            raise ConvertedFormatError(
                f'{self.path}: schema version {self.attrs.get("version")!r}; this mmbrain '
                f'reads versions {READABLE_VERSIONS} (convert again with this mmbrain)'
            )
        self.version: int = version
        missing = [k for k in ('subject', 'space', 'zscore', 'averaged') if k not in self.attrs]
        if missing:
            raise ConvertedFormatError(f'{self.path}: no {missing} root attributes')
        self.subject = int(self.attrs['subject'])
        self.space = str(self.attrs['space'])
        self.zscore = str(self.attrs['zscore'])
        self.averaged = bool(self.attrs['averaged'])
        # Version 2 (None when absent): the source grid of volume spaces and where betas, ROIs and ncsnr came from.
        shape = self.attrs.get('grid_shape')
        self.grid_shape: Optional[Tuple[int, ...]] = (
            None if shape is None else tuple(int(n) for n in np.atleast_1d(shape))
        )
        self.surface_vertices: Optional[Tuple[int, int]] = None
        if self.space == 'fsaverage':
            counts = self.attrs.get('surface_vertices', self.grid_shape)  # earlier converters: in grid_shape
            self.grid_shape = None
            counts = (FSAVERAGE_VERTICES, FSAVERAGE_VERTICES) if counts is None else np.atleast_1d(counts)
            if len(counts) != 2:
                raise ConvertedFormatError(f'{self.path}: surface_vertices is {counts!r}, expected (lh, rh) counts')
            self.surface_vertices = (int(counts[0]), int(counts[1]))
        self.betas_version: Optional[str] = self.attrs.get('betas_version')
        self.ncsnr_source: Optional[str] = self.attrs.get('ncsnr_source')
        self.rois_source: Optional[str] = self.attrs.get('rois_source')
        self.coordinate_space: str = str(
            self.attrs.get('coordinate_space', 'fsaverage' if self.space == 'fsaverage' else 'native')
        )

    @contextmanager
    def _h5(self, what: str) -> Iterator[Any]:
        """The file opened for reading; anything HDF5 or h5py raise on damaged metadata (OSError, RuntimeError,
        KeyError, ...) becomes a :class:`ConvertedFormatError` naming the file and what was being read."""
        import h5py

        try:
            with h5py.File(self.path, 'r') as f:
                yield f
        except ConvertedFormatError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
            reason = ' '.join(str(exc).split())[:300] or type(exc).__name__
            raise ConvertedFormatError(
                f'{self.path}: not a readable HDF5 file, or damaged: cannot read {what} ({reason})'
            ) from exc

    def __repr__(self) -> str:
        if not hasattr(self, 'voxel_counts'):  # failed to open
            return f'{self.__class__.__name__}({self.path!r})'
        return (
            f'{self.__class__.__name__}({self.path!r}, version={self.version}, subject={self.subject}, '
            f'space={self.space!r}, rows={self.n_rows}, voxels={self.voxel_counts})'
        )

    def require_version(self, version: int, feature: str) -> None:
        """Raise :class:`ConvertedFormatError` unless the file is at least of schema ``version``.

        Args:
            version: the lowest schema version ``feature`` works with.
            feature: what needs it, for the message (e.g. ``'writing NIfTI maps'``).
        """
        if self.version < version:
            raise ConvertedFormatError(
                f'{self.path}: {feature} needs a converted file of schema version >= '
                f'{version}, this one is version {self.version} (convert it again with '
                f'tools/dataset_converters/nsd_to_mmbrain.py)'
            )

    # Arrays -------------------------------------------------------------------------------------------------
    def _read(self, name: str, dtype=None) -> Optional[np.ndarray]:
        """Dataset ``name`` as an array (cached; None when absent)."""
        if name not in self._cache:
            with self._h5(name) as f:  # HDF5's messages do not name the file
                value = f[name][()] if name in f else None
                if value is not None and dtype is not None:
                    value = np.ascontiguousarray(value, dtype=dtype)
            self._cache[name] = value
        return self._cache[name]

    def _group(self, group: str) -> str:
        if group not in self.voxel_counts:
            raise KeyError(f'{self.path}: no ROI group {group!r} (has {self.groups})')
        return f'rois/{group}'

    @property
    def nsd_id(self) -> np.ndarray:
        """(rows,) int64, 0-based index of each row's stimulus."""
        return self._read('nsd_id', np.int64)

    @property
    def session(self) -> np.ndarray:
        """(rows,) int64, 1-based session of each row (0 where averaged)."""
        return self._read('session', np.int64)

    @property
    def shared1000(self) -> np.ndarray:
        """(rows,) bool, whether the row's image is one of the shared 1000."""
        return self._read('shared1000', bool)

    @property
    def n_repeats(self) -> Optional[np.ndarray]:
        """(rows,) int64 trials averaged into each row (0 = unknown); None in files without it."""
        return self._read('n_repeats', np.int64)

    def labels(self, group: str) -> np.ndarray:
        """(V_G,) int64 label value of each voxel; ``label_names(group)[v]`` names value ``v``."""
        return self._read(f'{self._group(group)}/label', np.int64)

    def label_names(self, group: str) -> List[str]:
        """Names of the label values of ``group`` (``[0]`` is ``Unknown``)."""
        key = f'{self._group(group)}.label_names'
        if key not in self._cache:
            with self._h5(f'{self._group(group)}.attrs["label_names"]') as f:
                self._cache[key] = [str(_text(n)) for n in f[self._group(group)].attrs['label_names']]
        return list(self._cache[key])

    def xyz(self, group: str) -> Optional[np.ndarray]:
        """(V_G, 3) float32 millimetre coordinates, or None when the file has none."""
        return self._read(f'{self._group(group)}/xyz', np.float32)

    def ijk(self, group: str) -> Optional[np.ndarray]:
        """(V_G, 3) int64 NIfTI voxel indices (volume spaces), else None."""
        return self._read(f'{self._group(group)}/ijk', np.int64)

    def vertex(self, group: str) -> Optional[np.ndarray]:
        """(V_G,) int64 fsaverage vertex within its hemisphere (space ``fsaverage``), else None."""
        return self._read(f'{self._group(group)}/vertex', np.int64)

    def hemi(self, group: str) -> Optional[np.ndarray]:
        """(V_G,) int64 hemisphere, 0 = lh, 1 = rh (space ``fsaverage``), else None."""
        return self._read(f'{self._group(group)}/hemi', np.int64)

    def ncsnr(self, group: str) -> Optional[np.ndarray]:
        """(V_G,) float64 noise-ceiling SNR, or None when the file has none."""
        return self._read(f'{self._group(group)}/ncsnr', np.float64)

    def betas(self, group: str, rows: Optional[Sequence[int]] = None) -> np.ndarray:
        """(rows, V_G) float32 responses of ``group``: all rows, or ``rows`` in the order given (not cached).

        For one row at a time in data loading, :meth:`betas_row` is much cheaper.
        """
        name = f'{self._group(group)}/betas'
        rows = None if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows is not None and rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f'{self.path}:{name}: rows out of range 0..{self.n_rows - 1}')
        with self._h5(name) as f:
            ds = f[name]
            if rows is None:
                return np.asarray(ds[()], dtype=np.float32)
            unique, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing indices
            return np.asarray(ds[unique], dtype=np.float32)[inverse]

    def betas_row(self, group: str, row: int) -> np.ndarray:
        """(V_G,) float32 responses of one row, one ``pread`` (see :mod:`.row_reader`; fork-safe, uncached)."""
        from .row_reader import get_row_reader

        return get_row_reader(self.path, f'{self._group(group)}/betas')[row]

# Copyright (c) mmbrain contributors. All rights reserved.
"""A brain map: voxels at their 3D coordinates (mm) coloured by a per-voxel value (e.g. prediction Pearson r).

:func:`plot_brain_map` rasterises the voxels onto their grid (spacing: the smallest distance between distinct
coordinates along each axis, 1.8 mm for NSD's ``func1pt8mm``) and shows three orthogonal projections, plus
optionally a 3D scatter, with one shared colour bar:

- sagittal: seen from the side, projected along x (horizontal y, vertical z);
- coronal: seen from the front, projected along y (horizontal x, vertical z);
- axial: seen from above, projected along z (horizontal x, vertical y).

The coordinates are taken as NIfTI scanner space, RAS+ (x: left to right, y: posterior to anterior, z: inferior
to superior), as the converted files' ``rois/<group>/xyz`` hold them (``affine @ ijk``). ``projection='max'`` is
the maximum-intensity projection (the best voxel along each line of sight), ``'mean'`` the mean over the voxels
on it. A voxel listed twice (e.g. in two ROI groups) counts once, with the mean of its values, and the figure says
so. Pixels with no voxel are left blank.

:func:`plot_result_maps` shows the maps that :func:`mmbrain.evaluation.brain_maps.write_brain_maps` writes (NIfTI
volumes in the subject's space, fsaverage overlays) with nilearn, as neuroscientists look at them: ``plot_stat_map``
over the subject's anatomy (NSD's T1, else its mean beta) for volumes, ``plot_surf_stat_map`` on the surface mesh
for fsaverage. Every row is cut at the same coordinates (those nilearn finds for the first row's map), all rows
share one colour scale with one labelled colour bar, and the figure says that a voxel in several ROI groups shows
the mean of its groups' values (as :mod:`mmbrain.evaluation.brain_maps` writes it). nilearn is an optional extra
(``requirements/optional.txt``); without it the hand-made projections of :func:`plot_brain_map` are drawn instead.
"""

import importlib.util
from typing import Mapping, Optional, Sequence, Tuple

import nibabel as nib
import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .figure_io import PathLike, new_figure, save_figure

#: (title, projected axis, horizontal axis, vertical axis) of each view.
VIEWS = (('sagittal', 0, 1, 2), ('coronal', 1, 0, 2), ('axial', 2, 0, 1))
AXIS_LABELS = ('x (mm, L→R)', 'y (mm, P→A)', 'z (mm, I→S)')


def _grid_spacing(xyz: np.ndarray) -> np.ndarray:
    spacing = np.ones(3)
    for axis in range(3):
        steps = np.diff(np.unique(np.round(xyz[:, axis], 3)))
        steps = steps[steps > 1e-3]
        if steps.size:
            spacing[axis] = steps.min()
    return spacing


def _deduplicate(xyz: np.ndarray, values: np.ndarray, spacing: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    ijk = np.round((xyz - xyz.min(axis=0)) / spacing).astype(np.int64)
    unique, inverse = np.unique(ijk, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    sums = np.zeros(len(unique))
    np.add.at(sums, inverse, values)
    counts = np.bincount(inverse, minlength=len(unique))
    return unique, sums / counts


def project(ijk: np.ndarray, values: np.ndarray, axis: int, projection: str = 'max') -> np.ndarray:
    """Project voxel values on an integer grid along ``axis``.

    Args:
        ijk: ``(V, 3)`` non-negative integer grid positions (distinct).
        values: ``(V,)`` values.
        axis: the axis projected away.
        projection: ``'max'`` or ``'mean'``.

    Returns:
        2D array indexed ``[vertical, horizontal]`` over the two remaining axes in increasing order (NaN where
        no voxel projects).
    """
    keep = [a for a in range(3) if a != axis]
    shape = tuple(int(ijk[:, a].max()) + 1 for a in keep)
    flat = np.ravel_multi_index((ijk[:, keep[0]], ijk[:, keep[1]]), shape)
    if projection == 'max':
        out = np.full(int(np.prod(shape)), -np.inf)
        np.maximum.at(out, flat, values)
        out[np.isneginf(out)] = np.nan
    elif projection == 'mean':
        sums = np.zeros(int(np.prod(shape)))
        np.add.at(sums, flat, values)
        counts = np.bincount(flat, minlength=sums.size)
        with np.errstate(invalid='ignore', divide='ignore'):
            out = np.where(counts > 0, sums / counts, np.nan)
    else:
        raise ValueError(f"projection must be 'max' or 'mean', got {projection!r}")
    return out.reshape(shape).T


def plot_brain_map(
    xyz: np.ndarray,
    values: np.ndarray,
    out_file: Optional[PathLike] = None,
    *,
    projection: str = 'max',
    with_3d: bool = True,
    value_label: str = 'Pearson r',
    title: Optional[str] = 'Prediction accuracy per voxel',
    cmap: str = 'RdBu_r',
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
    max_scatter_points: int = 20000,
    figsize: Optional[Tuple[float, float]] = None,
    dpi: int = 100,
) -> Figure:
    """Three orthogonal projections (and a 3D scatter) of per-voxel values at their coordinates.

    Args:
        xyz: ``(V, 3)`` voxel coordinates in mm (RAS+).
        values: ``(V,)`` value per voxel; voxels whose value is not finite are left out.
        out_file: if given, the figure is also saved there (atomically).
        projection: ``'max'`` (maximum-intensity) or ``'mean'``.
        with_3d: add a 3D scatter of the voxels (at most ``max_scatter_points``, a fixed random subset).
        value_label: colour bar label.
        title: figure title.
        cmap: colour map; the default diverging map is centred at 0 (``vmin = -vmax``) unless limits are given.
        vmin: lower colour limit (default ``-vmax`` for ``RdBu_r``-like maps, else the values' minimum).
        vmax: upper colour limit (default: the largest absolute value).
        max_scatter_points: cap of the 3D scatter.
        figsize: inches (default ``(16, 4.4)`` with the 3D view, ``(12.5, 4.4)`` without).
        dpi: dots per inch.

    Returns:
        The figure.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).ravel()
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] != values.size:
        raise ValueError(f'plot_brain_map: xyz must be (V, 3) and values (V,), got {xyz.shape} and {values.shape}')
    finite = np.isfinite(values) & np.isfinite(xyz).all(axis=1)
    if not finite.any():
        raise ValueError('plot_brain_map: no voxel with a finite value and coordinates')
    xyz, values = xyz[finite], values[finite]
    spacing = _grid_spacing(xyz)
    origin = xyz.min(axis=0)
    listed = len(values)
    ijk, values = _deduplicate(xyz, values, spacing)
    shared = listed - len(values)  # voxels listed more than once (e.g. in two ROI groups) count once
    if vmax is None:
        vmax = float(np.abs(values).max()) or 1.0
    if vmin is None:
        vmin = -vmax if cmap.startswith(('RdBu', 'coolwarm', 'bwr', 'seismic')) else float(values.min())
    norm = Normalize(vmin, vmax)
    colormap = colormaps[cmap].with_extremes(bad='0.92')

    fig = new_figure(figsize or ((16, 4.4) if with_3d else (12.5, 4.4)), dpi)
    n_panels = 4 if with_3d else 3
    extent_max = ijk.max(axis=0)
    for i, (name, axis, horizontal, vertical) in enumerate(VIEWS):
        ax = fig.add_subplot(1, n_panels, i + 1)
        image = project(ijk, values, axis, projection)
        extent = (
            origin[horizontal] - spacing[horizontal] / 2,
            origin[horizontal] + (extent_max[horizontal] + 0.5) * spacing[horizontal],
            origin[vertical] - spacing[vertical] / 2,
            origin[vertical] + (extent_max[vertical] + 0.5) * spacing[vertical],
        )
        mappable = ax.imshow(
            np.ma.masked_invalid(image),
            origin='lower',
            extent=extent,
            cmap=colormap,
            norm=norm,
            interpolation='nearest',
        )
        ax.set_title(f'{name} ({projection} along {"xyz"[axis]})')
        ax.set_xlabel(AXIS_LABELS[horizontal])
        ax.set_ylabel(AXIS_LABELS[vertical])
        ax.set_aspect('equal')
    if with_3d:
        ax3d = fig.add_subplot(1, n_panels, 4, projection='3d')
        points = origin + ijk * spacing
        order = np.arange(len(points))
        if len(points) > max_scatter_points:
            order = np.random.default_rng(0).choice(len(points), max_scatter_points, replace=False)
        order = order[np.argsort(np.abs(values[order]))]  # strongest voxels drawn last, on top
        ax3d.scatter(*points[order].T, c=values[order], cmap=cmap, norm=norm, s=4, depthshade=False)
        ax3d.set_title(f'3D ({len(order)} voxels)')
        ax3d.set_xlabel('x (mm)')
        ax3d.set_ylabel('y (mm)')
        ax3d.set_zlabel('z (mm)')
        ax3d.set_box_aspect(np.ptp(points, axis=0) + spacing)
    fig.colorbar(mappable, ax=fig.axes, shrink=0.85, label=value_label)
    if title:
        fig.suptitle(f'{title}  ({len(values)} voxels)', fontweight='bold')
    if shared:
        fig.supxlabel(
            f'{shared} voxel listings repeat a voxel (a voxel in several ROI groups): such a voxel shows the mean of '
            'its values',
            fontsize='small',
        )
    if out_file is not None:
        save_figure(fig, out_file)
    return fig


def nilearn_available() -> bool:
    """Whether nilearn (the optional extra drawing :func:`plot_result_maps`) is installed."""
    return importlib.util.find_spec('nilearn') is not None


def _volume_points(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Millimetre coordinates and values of the finite voxels of a NIfTI map."""
    img = nib.load(path)
    data = np.asanyarray(img.dataobj).astype(np.float64)
    ijk = np.argwhere(np.isfinite(data))
    return nib.affines.apply_affine(img.affine, ijk), data[tuple(ijk.T)]


def _shared_vmax(maps: Mapping[str, Mapping], key: str) -> float:
    vmax = 0.0
    for index in maps.values():
        files = index['maps'][key]
        for path in files.values() if isinstance(files, dict) else [files]:
            data = np.asanyarray(nib.load(path).dataobj)
            if np.isfinite(data).any():
                vmax = max(vmax, float(np.nanmax(np.abs(data))))
    return vmax or 1.0


def plot_result_maps(
    maps: Mapping[str, Mapping],
    out_file: Optional[PathLike] = None,
    *,
    key: str = 'r',
    value_label: str = 'Pearson r',
    title: Optional[str] = 'Prediction accuracy per voxel',
    cmap: Optional[str] = None,
    vmax: Optional[float] = None,
    cut_coords: Optional[Sequence[float]] = None,
    dpi: int = 100,
) -> Figure:
    """One row per model of a result map over the subject's anatomy (nilearn), or projections without nilearn.

    Args:
        maps: ``{model label: maps.json contents}`` as returned by ``write_brain_maps`` (one subject, one space).
        out_file: if given, the figure is also saved there (atomically).
        key: which map: ``'r'``, ``'noise_ceiling'`` or ``'algonauts_score'``.
        value_label: colour bar label.
        title: figure title.
        cmap: colour map (default: nilearn's ``cold_hot``, symmetric around 0, for r; ``hot`` for the others).
        vmax: colour limit (default: the largest absolute value over all models).
        cut_coords: ``(x, y, z)`` mm where every volume row is cut (default: nilearn's
            ``find_xyz_cut_coords`` of the first row's map).
        dpi: dots per inch.

    Returns:
        The figure.
    """
    if not maps:
        raise ValueError('plot_result_maps: no maps given')
    missing = [label for label, index in maps.items() if key not in index['maps']]
    if missing:
        raise ValueError(f'plot_result_maps: no {key!r} map for {missing}')
    first = next(iter(maps.values()))
    if not nilearn_available():
        if first['space'] == 'fsaverage':
            raise ImportError('plot_result_maps: surface maps need nilearn (pip install nilearn)')
        label = next(iter(maps))
        xyz, values = _volume_points(first['maps'][key])
        return plot_brain_map(
            xyz,
            values,
            out_file,
            value_label=value_label,
            dpi=dpi,
            title=f'{title or key}: {label} (nilearn not installed: projections)',
        )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from nilearn import plotting

    vmax = vmax if vmax is not None else _shared_vmax(maps, key)
    surface = first['space'] == 'fsaverage'
    rows = len(maps)
    fig = Figure(figsize=(12 if surface else 11, 3.4 * rows + 0.5), dpi=dpi)
    FigureCanvasAgg(fig)
    symmetric = key == 'r'
    cmap = cmap or ('cold_hot' if symmetric else 'hot')
    bottom, top = 0.45 / (3.4 * rows + 0.5), 1 - 0.35 / (3.4 * rows + 0.5)  # room for the note and the title
    height = (top - bottom) / rows
    volumes = {}
    if not surface:
        for label, index in maps.items():  # NaN (outside the ROIs) -> 0, below the display threshold
            img = nib.load(index['maps'][key])
            volumes[label] = nib.Nifti1Image(np.nan_to_num(np.asanyarray(img.dataobj, np.float32)), img.affine)
        if cut_coords is None:
            cut_coords = plotting.find_xyz_cut_coords(next(iter(volumes.values())))
        cut_coords = tuple(float(c) for c in cut_coords)
    for row, (label, index) in enumerate(maps.items()):
        if surface:
            for col, hemi in enumerate(('lh', 'rh')):
                mesh = (index.get('mesh') or {}).get(hemi)
                ax = fig.add_axes((0.45 * col, top - (row + 1) * height, 0.45, height * 0.92), projection='3d')
                if mesh is None:
                    ax.set_title(f'{label} {hemi}: no surface mesh')
                    continue
                values = np.nan_to_num(np.asarray(nib.load(index['maps'][key][hemi]).dataobj, np.float64).ravel())
                plotting.plot_surf_stat_map(
                    mesh,
                    values,
                    hemi='left' if hemi == 'lh' else 'right',
                    view='lateral',
                    threshold=1e-6,
                    cmap=cmap,
                    vmax=vmax,
                    colorbar=False,
                    symmetric_cbar=symmetric,
                    axes=ax,
                    figure=fig,
                    title=f'{label} ({hemi})',
                )
        else:
            ax = fig.add_axes((0.0, top - (row + 1) * height, 0.9, height * 0.92))
            plotting.plot_stat_map(
                volumes[label],
                bg_img=index.get('anatomy'),  # None: no background
                display_mode='ortho',
                cut_coords=cut_coords,
                threshold=1e-6,
                cmap=cmap,
                vmax=vmax,
                symmetric_cbar=symmetric,
                colorbar=False,
                draw_cross=False,
                black_bg=False,
                axes=ax,
                figure=fig,
                annotate=True,
                title=label,
            )
    colorbar = fig.colorbar(
        ScalarMappable(Normalize(-vmax if symmetric else 0.0, vmax), cmap=cmap),
        cax=fig.add_axes((0.92, bottom + 0.1 * (top - bottom), 0.018, 0.8 * (top - bottom))),
    )
    colorbar.set_label(value_label)
    where = 'vertex' if surface else 'voxel'
    note = f"A {where} in several ROI groups (streams overlaps the others) shows the mean of its groups' values."
    if not surface:
        note += ' Every row is cut at x, y, z = ' + ', '.join(f'{c:.1f}' for c in cut_coords) + ' mm.'
    fig.text(0.01, 0.1 * bottom, note, fontsize='small', va='bottom')
    if title:
        fig.suptitle(title, fontweight='bold', y=0.995, va='top')
    if out_file is not None:
        save_figure(fig, out_file)
    return fig

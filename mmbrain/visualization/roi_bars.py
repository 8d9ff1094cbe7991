# Copyright (c) mmbrain contributors. All rights reserved.
"""Per-ROI encoding accuracy of the held-out subject: mean Pearson r per ROI group, several models side by side.

:func:`plot_roi_correlations` draws, for each ROI group of paper Sec. 3.1 (``prf-visualrois``, ``floc-bodies``,
``floc-faces``, ``floc-places``, ``floc-words``, ``streams``), one bar per model: the mean over the group's voxels
of the Pearson r between predicted and measured responses (paper Sec. 4.5, "PCC"), with the standard error of
that mean when per-voxel values are given. Voxels whose r is undefined (NaN, e.g. a constant prediction) are
left out with a warning in the log, never silently counted as zero.

The noise ceiling is drawn per group as a black horizontal line over the group's bars, **in units of r**: NSD's
noise ceiling ``NC`` (:func:`mmbrain.evaluation.functional.noise_ceiling`) is the % of the response variance that
a perfect model could explain, so the highest Pearson r a voxel allows is ``sqrt(NC / 100)``; the line is the
mean of ``sqrt(NC / 100)`` over the group's voxels, directly comparable with the bar (a mean of r). Per-group
ceilings already in r units are accepted with ``ceiling_unit='r'``.
"""

import logging
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from mmengine.logging import print_log

from mmbrain.datasets.nsd_files import ROI_GROUPS

from .figure_io import PathLike, new_figure, save_figure

ArrayLike = Union[float, Sequence[float], np.ndarray]


def _mean_sem(values: ArrayLike, what: str) -> Tuple[float, float]:
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(values)
    if not finite.all():
        print_log(
            f'{what}: {int((~finite).sum())} of {values.size} voxels have no defined r and are left out',
            logger='current',
            level=logging.WARNING,
        )
    values = values[finite]
    if values.size == 0:
        return np.nan, np.nan
    sem = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else np.nan
    return float(values.mean()), float(sem)


def ceiling_in_r(noise_ceiling: ArrayLike, unit: str = 'nc_percent') -> float:
    """The mean highest-possible Pearson r of a group.

    Args:
        noise_ceiling: per-voxel (or one) noise ceiling.
        unit: ``'nc_percent'`` (NSD's NC in % of variance, 0-100), ``'nc_fraction'`` (0-1) or ``'r'``.

    Returns:
        ``mean(sqrt(NC))`` with NC as a fraction (clipped to [0, 1]), or ``mean(r)`` for ``unit='r'``.
    """
    values = np.asarray(noise_ceiling, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.nan
    if unit == 'r':
        return float(values.mean())
    scale = {'nc_percent': 100.0, 'nc_fraction': 1.0}
    if unit not in scale:
        raise ValueError(f"ceiling unit must be 'nc_percent', 'nc_fraction' or 'r', got {unit!r}")
    return float(np.sqrt(np.clip(values / scale[unit], 0.0, 1.0)).mean())


def plot_roi_correlations(
    correlations: Mapping[str, Mapping[str, ArrayLike]],
    out_file: Optional[PathLike] = None,
    *,
    noise_ceiling: Optional[Mapping[str, ArrayLike]] = None,
    ceiling_unit: str = 'nc_percent',
    groups: Optional[Sequence[str]] = None,
    title: Optional[str] = 'Encoding accuracy per ROI group (held-out subject)',
    figsize: Tuple[float, float] = (11, 4.8),
    dpi: int = 100,
    colors: Optional[Sequence[str]] = None,
) -> Figure:
    """Grouped bars of mean Pearson r per ROI group and model, with the per-group noise ceiling.

    Args:
        correlations: ``{model label: {group: per-voxel r array, or one mean r}}``; bars in dict order (e.g.
            ``{'Brainformer': ..., 'random init': ...}``).
        out_file: if given, the figure is also saved there (atomically).
        noise_ceiling: ``{group: per-voxel noise ceiling, or one value}`` in ``ceiling_unit``.
        ceiling_unit: see :func:`ceiling_in_r`.
        groups: groups to show, in order (default: the six of Sec. 3.1 present in the data, then any other).
        title: figure title.
        figsize: inches; with ``dpi`` it fixes the PNG's size in pixels.
        dpi: dots per inch.
        colors: one matplotlib colour per model (default: the ``tab10`` cycle).

    Returns:
        The figure.
    """
    if not correlations:
        raise ValueError('plot_roi_correlations: no model given')
    present = {g for per_group in correlations.values() for g in per_group}
    if groups is None:
        groups = [g for g in ROI_GROUPS if g in present] + sorted(present - set(ROI_GROUPS))
    if not groups:
        raise ValueError('plot_roi_correlations: no ROI group in the correlations')
    models = list(correlations)
    palette = list(colors) if colors is not None else [f'C{i}' for i in range(10)]
    if len(palette) < len(models):
        raise ValueError(f'{len(models)} models but only {len(palette)} colours')

    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    width = 0.8 / len(models)
    x = np.arange(len(groups))
    for m, (model, color) in enumerate(zip(models, palette)):
        stats = [
            _mean_sem(correlations[model][g], f'{model} / {g}') if g in correlations[model] else (np.nan, np.nan)
            for g in groups
        ]
        means = np.array([s[0] for s in stats])
        sems = np.array([s[1] for s in stats])
        offsets = x - 0.4 + width * (m + 0.5)
        bars = ax.bar(
            offsets,
            np.nan_to_num(means),
            width * 0.92,
            color=color,
            label=model,
            yerr=np.where(np.isfinite(sems), sems, 0.0),
            capsize=3,
            ecolor='0.25',
        )
        for bar, mean, sem in zip(bars, means, sems):
            label = 'n/a' if not np.isfinite(mean) else f'{mean:.3f}'
            y = 0.0 if not np.isfinite(mean) else mean + np.copysign(np.nan_to_num(sem), mean)
            ax.annotate(
                label,
                (bar.get_x() + bar.get_width() / 2, y),
                xytext=(0, 3 if y >= 0 else -10),
                textcoords='offset points',
                ha='center',
                fontsize='x-small',
                rotation=90 if len(models) > 3 else 0,
            )
    handles = [Patch(color=c, label=mdl) for mdl, c in zip(models, palette)]
    if noise_ceiling is not None:
        for i, g in enumerate(groups):
            if g in noise_ceiling:
                ceiling = ceiling_in_r(noise_ceiling[g], ceiling_unit)
                if np.isfinite(ceiling):
                    ax.hlines(ceiling, i - 0.45, i + 0.45, colors='k', linewidths=2.0)
                    ax.annotate(
                        f'ceiling {ceiling:.2f}',
                        (i, ceiling),
                        xytext=(0, 2),
                        textcoords='offset points',
                        ha='center',
                        va='bottom',
                        fontsize='x-small',
                    )
        handles.append(Line2D([], [], color='k', lw=2, label=r'noise ceiling (mean $\sqrt{NC}$, r units)'))
    ax.axhline(0.0, color='0.3', lw=0.8)
    ax.set_xticks(x, groups)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel('mean Pearson r over voxels (± s.e.m.)')
    ax.grid(axis='y', alpha=0.3)
    ax.legend(handles=handles, loc='upper left', bbox_to_anchor=(1.0, 1.0), fontsize='small')
    if title:
        ax.set_title(title)
    if out_file is not None:
        save_figure(fig, out_file)
    return fig

# Copyright (c) mmbrain contributors. All rights reserved.
"""Pretraining variants side by side (paper Table 3 when they are its ablations): one panel per metric, one bar
per variant, values written on the bars.

:func:`plot_ablation` takes ``{variant: {metric: value}}`` (e.g. ``{'Brainformer': {'AP box': 45.1, 'PCC':
57.43}, 'w/o guidance loss': {...}, 'pos embed': {...}}``), the first variant being the reference: every other
bar is annotated with its difference to it, as the paper's ablation text reads ("+2.4% box/AP"). Metrics have
their own panel (their scales differ); each bar is labelled with its variant's name, and a variant that has no
value for a metric says "not measured" instead of a bar. The default title names no paper table: the caller
knows whether its variants are the paper's ablations.
"""

import math
import textwrap
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure

from .figure_io import PathLike, new_figure, save_figure


def plot_ablation(
    results: Mapping[str, Mapping[str, float]],
    out_file: Optional[PathLike] = None,
    *,
    metrics: Optional[Sequence[str]] = None,
    title: Optional[str] = 'Pretraining variants',
    panel_size: Tuple[float, float] = (3.6, 3.4),
    max_columns: int = 4,
    dpi: int = 100,
    colors: Optional[Sequence[str]] = None,
) -> Figure:
    """Bars of each metric per variant, with differences to the first (reference) variant.

    Args:
        results: ``{variant: {metric: value}}``; variants in dict order, the first being the reference.
        out_file: if given, the figure is also saved there (atomically).
        metrics: metrics to show, in order (default: all, in order of first appearance).
        title: figure title.
        panel_size: inches of one metric panel.
        max_columns: panels per row.
        dpi: dots per inch.
        colors: one colour per variant (default: the ``tab10`` cycle).

    Returns:
        The figure: ``ceil(M / max_columns)`` rows of ``min(M, max_columns)`` panels.
    """
    if not results:
        raise ValueError('plot_ablation: no variant given')
    variants = list(results)
    if metrics is None:
        metrics = list(dict.fromkeys(m for per_variant in results.values() for m in per_variant))
    if not metrics:
        raise ValueError('plot_ablation: no metric given')
    palette = list(colors) if colors is not None else [f'C{i}' for i in range(10)]
    if len(palette) < len(variants):
        raise ValueError(f'{len(variants)} variants but only {len(palette)} colours')
    columns = min(len(metrics), max_columns)
    rows = math.ceil(len(metrics) / columns)
    fig = new_figure((panel_size[0] * columns, panel_size[1] * rows + 0.6), dpi)
    names = [v + (' (reference)' if i == 0 and len(variants) > 1 else '') for i, v in enumerate(variants)]
    ticks = [textwrap.fill(name, 14) for name in names]
    tilt = dict(rotation=30, ha='right') if len(variants) > 3 else {}
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    x = np.arange(len(variants))
    for ax, metric in zip(axes, metrics):
        values = np.array([float(results[v].get(metric, np.nan)) for v in variants])
        finite = np.isfinite(values)
        ax.bar(x[finite], values[finite], color=[palette[i] for i in np.flatnonzero(finite)], width=0.7)
        low = min(0.0, float(values[finite].min())) if finite.any() else 0.0
        high = max(0.0, float(values[finite].max())) if finite.any() else 1.0
        span = (high - low) or 1.0
        ax.set_ylim(low - 0.25 * span * (low < 0), high + 0.22 * span)
        ref = values[0]
        for i, value in enumerate(values):
            if not np.isfinite(value):
                ax.text(i, low + 0.02 * span, 'not\nmeasured', ha='center', va='bottom', fontsize='x-small', color='.4')
                continue
            text = f'{value:.4g}'
            if i > 0 and np.isfinite(ref):
                text += f'\n({value - ref:+.3g})'
            ax.annotate(
                text,
                (i, value),
                xytext=(0, 2 if value >= 0 else -2),
                textcoords='offset points',
                ha='center',
                va='bottom' if value >= 0 else 'top',
                fontsize='x-small',
            )
        ax.set_title(metric)
        ax.set_xticks(x, ticks, fontsize='x-small', **tilt)
        ax.axhline(0.0, color='0.3', lw=0.8)
        ax.grid(axis='y', alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontweight='bold')
    if out_file is not None:
        save_figure(fig, out_file)
    return fig

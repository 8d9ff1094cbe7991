# Copyright (c) mmbrain contributors. All rights reserved.
"""Pretraining curves of one or several runs (e.g. Brainformer and its ablations), overlaid.

:func:`plot_training_curves` reads mmengine scalar logs (:mod:`.scalar_logs`) and draws, against the training
iteration, six panels: the total loss, the contrastive loss L_con (paper Eq. 5), the Brain fMRI Guidance Loss
L_bfg (Eq. 6), the learnable temperature sigma of Eq. 5, the learning rate, and the retrieval top-k accuracies of
the validations (every key matching :data:`.scalar_logs.RETRIEVAL_PATTERN`, e.g. ``retrieval/img2brain_top1``).
Each run has one colour; in the retrieval panel the line style tells k (top-1 solid, top-5 dashed), the marker
the direction, and chance levels (keys with ``chance``, as
:class:`~mmbrain.evaluation.metrics.BrainRetrievalMetric` logs them) are grey. Values are plotted as logged
(mmengine averages training scalars over its logging interval). A panel that no run logged says so.

The legends sit under the panels, never over them, and stay small whatever the number of metrics: one entry per
run, one per k, one per direction and one for chance (not one per logged key: a study logs dozens). Tick labels
carry no offset text (``1e-3`` above an axis would collide with the panel's title).
"""

import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from mmbrain.evaluation.scalar_logs import RETRIEVAL_PATTERN, ScalarLog, load_scalar_log

from .figure_io import PathLike, new_figure, save_figure

#: Training panels: (title, y label, regular expression that the logged key must match in full).
TRAIN_PANELS: Tuple[Tuple[str, str, str], ...] = (
    ('total loss', r'$\lambda_{con}\mathcal{L}_{con} + \lambda_{bfg}\mathcal{L}_{bfg}$', r'loss'),
    ('contrastive loss (Eq. 5)', r'$\mathcal{L}_{con}$', r'loss_con'),
    ('brain fMRI guidance loss (Eq. 6)', r'$\mathcal{L}_{bfg}$', r'loss_bfg'),
    ('temperature (Eq. 5)', r'$\sigma$', r'(.*[/.])?temperature'),
    ('learning rate', 'lr', r'(.*[/.])?lr'),
)
LINE_STYLES = ('-', '--', ':', '-.')
MARKERS = ('o', 's', '^', 'D', 'v', 'P')
#: Colour of the chance levels that retrieval metrics log (e.g. ``retrieval/chance_top1``), whatever the run.
CHANCE_COLOR = '0.55'

RunsLike = Union[ScalarLog, PathLike, Mapping[str, Union[ScalarLog, PathLike]]]


def _retrieval_parts(metric: str) -> Tuple[int, str]:
    """``(k, direction)`` of a retrieval key: ``retrieval/img2brain_top5`` -> ``(5, 'img2brain')``."""
    match = RETRIEVAL_PATTERN.search(metric)
    rest = (metric[: match.start()] + metric[match.end() :]).rsplit('/', 1)[-1].strip('_-') or metric
    return int(re.sub(r'\D', '', match.group(0))), rest


def _retrieval_styles(metrics: Sequence[str]) -> Dict[str, Tuple[str, str]]:
    """Line style by k (top-1 solid, top-5 dashed, ...) and marker by what is left of the key (the direction)."""
    parts = {m: _retrieval_parts(m) for m in metrics}
    ks = sorted({k for k, _ in parts.values()})
    rests = sorted({rest for m, (_, rest) in parts.items() if not _is_chance(m)})
    return {
        m: (
            LINE_STYLES[ks.index(k) % len(LINE_STYLES)],
            'x' if _is_chance(m) else MARKERS[rests.index(rest) % len(MARKERS)],
        )
        for m, (k, rest) in parts.items()
    }


def _retrieval_legend(metrics: Sequence[str]) -> Tuple[List[Line2D], List[str]]:
    """Legend entries of the retrieval panel: one per k (line style), one per direction (marker), chance."""
    styles = _retrieval_styles(metrics)
    handles, labels = [], []
    for k in sorted({_retrieval_parts(m)[0] for m in metrics}):
        style = next(styles[m][0] for m in metrics if _retrieval_parts(m)[0] == k)
        handles.append(Line2D([], [], color='k', ls=style))
        labels.append(f'top-{k}')
    for direction in sorted({_retrieval_parts(m)[1] for m in metrics if not _is_chance(m)}):
        marker = next(styles[m][1] for m in metrics if not _is_chance(m) and _retrieval_parts(m)[1] == direction)
        handles.append(Line2D([], [], color='k', ls='', marker=marker))
        labels.append(direction)
    if any(_is_chance(m) for m in metrics):
        handles.append(Line2D([], [], color=CHANCE_COLOR, marker='x'))
        labels.append('chance')
    return handles, labels


def _is_chance(metric: str) -> bool:
    return 'chance' in metric.lower()


def _as_runs(runs: RunsLike) -> Mapping[str, ScalarLog]:
    if isinstance(runs, Mapping):
        items = runs.items()
    else:
        items = [('run', runs)]
    loaded = {label: log if isinstance(log, ScalarLog) else load_scalar_log(log) for label, log in items}
    if not loaded:
        raise ValueError('plot_training_curves needs at least one run')
    return loaded


def _empty(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f'{what}\nnot logged by any run', ha='center', va='center', transform=ax.transAxes, color='0.4')


def _draw_train_panel(
    ax: Axes, runs: Mapping[str, ScalarLog], colors: Mapping[str, str], title: str, ylabel: str, pattern: str
) -> None:
    regex = re.compile(pattern)
    drawn = False
    for label, log in runs.items():
        keys = sorted(k for k in log.train if regex.fullmatch(k))
        for key, style in zip(keys, LINE_STYLES):
            xs, ys = log.train[key]
            ax.plot(xs, ys, style, color=colors[label], lw=1.5, marker='.' if len(xs) < 30 else None)
            drawn = True
    ax.set_title(title)
    ax.set_xlabel('iteration')
    ax.set_ylabel(ylabel)
    if not drawn:
        _empty(ax, title)
    ax.grid(alpha=0.3)


def _draw_retrieval_panel(ax: Axes, runs: Mapping[str, ScalarLog], colors: Mapping[str, str]) -> None:
    metrics = sorted({k for log in runs.values() for k in log.retrieval_keys()})
    styles = _retrieval_styles(metrics)
    for label, log in runs.items():
        for metric in log.retrieval_keys():
            xs, ys = log.val[metric]
            style, marker = styles[metric]
            if _is_chance(metric):
                ax.plot(xs, ys, style, marker=marker, color=CHANCE_COLOR, lw=1.0, ms=3)
            else:
                ax.plot(xs, ys, style, marker=marker, color=colors[label], lw=1.5, ms=5)
    ax.set_title('retrieval on the validation set')
    ax.set_xlabel('iteration')
    ax.set_ylabel('top-k hit rate (as logged)')
    ax.grid(alpha=0.3)
    if not metrics:
        _empty(ax, 'retrieval metrics')


def plot_training_curves(
    runs: RunsLike,
    out_file: Optional[PathLike] = None,
    *,
    title: Optional[str] = 'Brainformer pretraining',
    figsize: Tuple[float, float] = (15, 8),
    dpi: int = 100,
    colors: Optional[Sequence[str]] = None,
) -> Figure:
    """Losses, temperature, learning rate and retrieval against the training iteration.

    Args:
        runs: one run or ``{label: run}`` to overlay (dict order is legend order); a run is a
            :class:`~.scalar_logs.ScalarLog` or anything :func:`~.scalar_logs.load_scalar_log` reads (a work dir,
            a ``<timestamp>`` folder, a ``scalars.json``).
        out_file: if given, the figure is also saved there (atomically).
        title: figure title.
        figsize: inches; with ``dpi`` it fixes the PNG's size in pixels.
        dpi: dots per inch.
        colors: one matplotlib colour per run (default: the ``tab10`` cycle).

    Returns:
        The figure (2 x 3 panels).
    """
    runs = _as_runs(runs)
    palette = list(colors) if colors is not None else [f'C{i}' for i in range(10)]
    if len(palette) < len(runs):
        raise ValueError(f'{len(runs)} runs but only {len(palette)} colours')
    run_colors = dict(zip(runs, palette))
    fig = new_figure(figsize, dpi)
    axes = fig.subplots(2, 3).ravel()
    for ax, (panel_title, ylabel, pattern) in zip(axes, TRAIN_PANELS):
        _draw_train_panel(ax, runs, run_colors, panel_title, ylabel, pattern)
    axes[4].yaxis.set_major_formatter(FuncFormatter(lambda value, _: f'{value:.1e}' if value else '0'))
    _draw_retrieval_panel(axes[5], runs, run_colors)
    run_handles = [Line2D([], [], color=run_colors[label], lw=2.5) for label in runs]
    fig.legend(run_handles, list(runs), loc='outside lower left', ncols=min(len(runs), 4), title='run')
    metrics = sorted({k for log in runs.values() for k in log.retrieval_keys()})
    if metrics:
        handles, labels = _retrieval_legend(metrics)
        fig.legend(handles, labels, loc='outside lower right', ncols=min(len(labels), 4), title='retrieval panel')
    if title:
        fig.suptitle(title, fontweight='bold')
    if out_file is not None:
        save_figure(fig, out_file)
    return fig

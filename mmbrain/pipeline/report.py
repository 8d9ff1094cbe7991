# Copyright (c) mmbrain contributors. All rights reserved.
"""The report of the end-to-end job: numbers side by side per task, and the figures (paper Tables 1-3, Fig. 6).

:func:`collect_results` reads what the pipeline's runs logged (mmengine's ``vis_data/scalars.json``, the encoding
runs' voxel-wise dumps); :func:`write_figures` draws the figures with :mod:`mmbrain.visualization`;
:func:`write_report` writes the Markdown. Numbers are whatever the runs measured: nothing here is hard-coded.
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from mmbrain.utils.fileio import atomic_write

from .plan import VOXELWISE_FILE, PipelinePlan, slug

__all__ = ['RunResult', 'PipelineResults', 'collect_results', 'write_figures', 'write_report']


@dataclass
class RunResult:
    """Final validation metrics of one run, with the iteration they were measured at."""
    run_dir: str
    metrics: Dict[str, float]
    iteration: Optional[float]


@dataclass
class PipelineResults:
    """Everything the report shows."""
    plan: PipelinePlan
    timings: Dict[str, float]
    pretrain: Dict[str, RunResult] = field(default_factory=dict)
    tasks: Dict[str, Dict[str, RunResult]] = field(default_factory=dict)


def _final_metrics(run_dir: str) -> RunResult:
    from mmbrain.visualization import load_scalar_log
    log = load_scalar_log(run_dir)
    metrics, iteration = {}, None
    for key, (iters, values) in log.val.items():
        if len(values):
            metrics[key] = float(values[-1])
            iteration = float(iters[-1]) if iteration is None else max(iteration, float(iters[-1]))
    return RunResult(run_dir, metrics, iteration)


def collect_results(plan: PipelinePlan, timings: Dict[str, float]) -> PipelineResults:
    """Read the final validation metrics of every run of ``plan``."""
    results = PipelineResults(plan, dict(timings))
    for label in ['Brainformer', *plan.ablations]:
        results.pretrain[label] = _final_metrics(osp.join(plan.work_dir, 'pretrain_' + slug(label)))
    for task in plan.tasks:
        labels = ['random init', 'Brainformer'] + (list(plan.ablations) if task.name == 'encoding' else [])
        results.tasks[task.name] = {
            label: _final_metrics(osp.join(plan.work_dir, f'{task.name}_{slug(label)}'))
            for label in labels
        }
    return results


def _load_voxelwise(run_dir: str) -> Dict[str, Dict[str, np.ndarray]]:
    """``{group: {'r': (V,), 'noise_ceiling': (V,), 'xyz': (V, 3)}}`` from an encoding run's dump."""
    path = osp.join(run_dir, VOXELWISE_FILE)
    out: Dict[str, Dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            group, what = key.rsplit('/', 1)
            out.setdefault(group, {})[what] = data[key]
    return out


def write_figures(results: PipelineResults, fig_dir: str) -> Dict[str, str]:
    """Draw the report's figures into ``fig_dir``; returns ``{figure name: path}``."""
    from mmbrain.visualization import (
        load_scalar_log,
        plot_ablation,
        plot_brain_map,
        plot_roi_correlations,
        plot_training_curves,
    )
    plan = results.plan
    os.makedirs(fig_dir, exist_ok=True)
    figures = {}

    runs = {label: load_scalar_log(r.run_dir) for label, r in results.pretrain.items()}
    figures['pretraining curves'] = osp.join(fig_dir, 'pretraining_curves.png')
    plot_training_curves(runs, figures['pretraining curves'])

    encoding = results.tasks.get('encoding')
    if encoding:
        voxelwise = {label: _load_voxelwise(r.run_dir) for label, r in encoding.items()
                     if osp.isfile(osp.join(r.run_dir, VOXELWISE_FILE))}
        if voxelwise:
            reference = voxelwise.get('Brainformer') or next(iter(voxelwise.values()))
            shown = {label: voxelwise[label] for label in ('Brainformer', 'random init') if label in voxelwise}
            figures['per-ROI correlation'] = osp.join(fig_dir, 'roi_correlation.png')
            plot_roi_correlations(
                {label: {g: v['r'] for g, v in groups.items()} for label, groups in shown.items()},
                figures['per-ROI correlation'],
                noise_ceiling={g: v['noise_ceiling'] for g, v in reference.items()},
                title='Encoding accuracy per ROI group, held-out subject (ceiling: sqrt of the noise ceiling)')
            xyz = np.concatenate([v['xyz'] for v in reference.values()])
            r = np.concatenate([v['r'] for v in reference.values()])
            figures['brain map'] = osp.join(fig_dir, 'brain_map.png')
            plot_brain_map(xyz, r, figures['brain map'],
                           title='Prediction correlation per voxel (Brainformer backbone, held-out subject)')

    ablation = {}
    for label, run in results.pretrain.items():
        row = {k: v for k, v in run.metrics.items() if k.endswith('top1') and 'chance' not in k}
        if encoding and label in encoding:
            for key, name in plan.tasks[-1].metrics.items():
                if key in encoding[label].metrics:
                    row[name] = encoding[label].metrics[key]
        ablation[label] = row
    if len(ablation) > 1:
        figures['ablation'] = osp.join(fig_dir, 'ablation.png')
        plot_ablation(ablation, figures['ablation'])
    return figures


def _fmt(value: Optional[float]) -> str:
    return '-' if value is None or not np.isfinite(value) else f'{value:.3f}' if abs(value) < 1 else f'{value:.2f}'


def write_report(results: PipelineResults, figures: Dict[str, str], path: str,
                 extra_sections: Optional[List[str]] = None) -> None:
    """Write the Markdown report atomically."""
    plan = results.plan
    lines = ['# Brainformer end-to-end report', '',
             f'Data: {"synthetic NSD world" if plan.synthetic else "NSD"} (`{plan.data_root}`, converted '
             f'`{plan.converted_dir}`). Work dir: `{plan.work_dir}`. Every number below was measured by this run; '
             'see each run folder for its full log.', '']

    lines += ['## Pretraining: image-brain retrieval on held-out rows (%)', '',
              '| run | image→brain top-1 | image→brain top-5 | brain→image top-1 | brain→image top-5 | '
              'chance top-1 / top-5 |', '|---|---|---|---|---|---|']
    for label, run in results.pretrain.items():
        m = run.metrics
        cells = [_fmt(m.get(f'retrieval/{d}_top{k}')) for d in ('img2brain', 'brain2img') for k in (1, 5)]
        chance = f"{_fmt(m.get('retrieval/img2brain_chance_top1'))} / {_fmt(m.get('retrieval/img2brain_chance_top5'))}"
        lines.append(f'| {label} | ' + ' | '.join(cells) + f' | {chance} |')
    lines += ['', 'Measured after the last pretraining iteration; chance is the hit rate of a random ranking.', '']

    lines += ['## Downstream: Brainformer backbone vs random init (same schedule, same seed)', '']
    for task in plan.tasks:
        runs = results.tasks.get(task.name, {})
        lines += [f'### {task.title}', '', '| backbone init | ' + ' | '.join(task.metrics.values()) + ' |',
                  '|---' * (1 + len(task.metrics)) + '|']
        for label, run in runs.items():
            lines.append(f'| {label} | ' + ' | '.join(_fmt(run.metrics.get(k)) for k in task.metrics) + ' |')
        headline = next(iter(task.metrics))
        if 'Brainformer' in runs and 'random init' in runs:
            diff = runs['Brainformer'].metrics.get(headline, np.nan) - runs['random init'].metrics.get(headline,
                                                                                                         np.nan)
            lines += ['', f'Brainformer minus random init on {task.metrics[headline]}: {_fmt(diff)}.']
        lines.append('')

    if figures:
        lines += ['## Figures', '']
        for name, fig in figures.items():
            lines += [f'### {name}', '', f'![{name}]({osp.relpath(fig, osp.dirname(osp.abspath(path)))})', '']

    lines += extra_sections or []
    lines += ['## Time per stage', '', '| stage | seconds |', '|---|---|']
    lines += [f'| {name} | {seconds:.0f} |' for name, seconds in results.timings.items()]
    lines += [f'| total | {sum(results.timings.values()):.0f} |', '']

    with atomic_write(path) as f:
        f.write('\n'.join(lines))

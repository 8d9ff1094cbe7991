# Copyright (c) mmbrain contributors. All rights reserved.
"""The report of the end-to-end job: every metric of paper Tables 1-3 per initialisation, with its spread over seeds.

:func:`collect_results` reads what the runs left (mmengine's ``vis_data/scalars.json`` for validation, the encoding
test split's ``tools/test.py`` JSON, the ridge baseline's JSON); :func:`write_figures` draws the figures with
:mod:`mmbrain.visualization`; :func:`write_report` writes the Markdown: cells are mean ± sd over seeds, and each task
gets the paired differences Brainformer - random init and Brainformer - CLIP with 95% t-intervals
(:mod:`~mmbrain.pipeline.statistics`). Every number is what the runs measured; nothing here is hard-coded.
"""

import json
import os
import os.path as osp
import re
import shutil
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmbrain.utils.atomic import atomic_write

from .plan import (
    BRAIN_MAPS_DIR,
    GRADCAM_FILE,
    MAJORITY_CLASS_FILE,
    RANDOM_INIT,
    RIDGE_FILE,
    TEST_METRICS_FILE,
    VOXELWISE_FILE,
    DownstreamTask,
    PipelinePlan,
    init_key,
    majority_class_stage,
    stage_name,
)
from .statistics import PairedDifference, paired_difference, summarize

__all__ = [
    'RunResult',
    'PipelineResults',
    'collect_results',
    'write_figures',
    'write_report',
    'ridge_metrics',
    'git_commit',
]

CONFIDENCE = 0.95
MAJORITY_ROW = 'majority class (trivial baseline)'
MODALITY_KEY = re.compile(r'^retrieval/img2([a-z]+)_top1$')
SUBJECT_KEY = re.compile(r'^retrieval/(subj\d+)/(.+)$')
GROUP_KEY = re.compile(r'^nsd/([^/]+)/pearson_mean$')


@dataclass
class RunResult:
    """Final metrics of one run (validation log, or the JSON its stage wrote)."""

    run_dir: str
    metrics: Dict[str, float] = field(default_factory=dict)


@dataclass
class PipelineResults:
    """Everything the report shows, per seed.

    Attributes:
        pretrain: ``{seed: {label: result}}`` of the pretraining runs (retrieval on held-out rows).
        tasks: ``{seed: {task: {label: result}}}`` of the downstream runs (encoding: the test split).
        ridge: ``{seed: {label: result}}`` of the ridge baseline, keys without their ``ridge/`` prefix.
        majority_class: ``{task: result}`` of the majority-class baseline (the same for every seed).
    """

    plan: PipelinePlan
    timings: Dict[str, float]
    pretrain: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    tasks: Dict[int, Dict[str, Dict[str, RunResult]]] = field(default_factory=dict)
    ridge: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    majority_class: Dict[str, RunResult] = field(default_factory=dict)


def _final_validation(run_dir: str) -> RunResult:
    """The last validation value of every key the run logged (empty if it left no log)."""
    from mmbrain.visualization import load_scalar_log

    try:
        log = load_scalar_log(run_dir)
    except FileNotFoundError:
        return RunResult(run_dir)
    return RunResult(run_dir, {key: float(values[-1]) for key, (_, values) in log.val.items() if len(values)})


def _json_metrics(path: str) -> Dict[str, float]:
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object of metrics, got {type(data).__name__}')
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def ridge_metrics(path: str) -> Dict[str, float]:
    """The ridge baseline's JSON with its ``ridge/`` prefix removed, so its keys are the encoding metric's."""
    out = {}
    for key, value in _json_metrics(path).items():
        key = key[len('ridge/') :] if key.startswith('ridge/') else key
        out[key if key.startswith('nsd/') else 'nsd/' + key] = value
    return out


def _label(plan: PipelinePlan, key: str) -> str:
    return next((init.label for init in plan.pretrain if init.key == key), RANDOM_INIT)


def collect_results(plan: PipelinePlan, timings: Dict[str, float]) -> PipelineResults:
    """Read the final metrics of every run of ``plan`` (a run that left nothing has no metrics)."""
    results = PipelineResults(plan, dict(timings))
    for task in plan.tasks:
        if task.majority_class:
            run_dir = osp.join(plan.work_dir, majority_class_stage(task))
            results.majority_class[task.name] = RunResult(
                run_dir, _json_metrics(osp.join(run_dir, MAJORITY_CLASS_FILE))
            )
    for seed in plan.seeds:
        root = plan.seed_dir(seed)
        results.pretrain[seed] = {
            init.label: _final_validation(osp.join(root, f'pretrain_{init.key}')) for init in plan.pretrain
        }
        results.tasks[seed], results.ridge[seed] = {}, {}
        for task in plan.tasks:
            runs = {}
            for init in plan.inits_of(task):
                label = RANDOM_INIT if init is None else init.label
                run_dir = osp.join(root, f'{task.name}_{init_key(init)}')
                runs[label] = (
                    RunResult(run_dir, _json_metrics(osp.join(run_dir, TEST_METRICS_FILE)))
                    if task.test_split
                    else _final_validation(run_dir)
                )
                if task.ridge:
                    ridge_dir = osp.join(root, f'ridge_{init_key(init)}')
                    results.ridge[seed][label] = RunResult(ridge_dir, ridge_metrics(osp.join(ridge_dir, RIDGE_FILE)))
            results.tasks[seed][task.name] = runs
    return results


# ------------------------------------------------------------------------------------------------------- figures
def _load_voxelwise(run_dir: str) -> Dict[str, Dict[str, np.ndarray]]:
    """``{group: {'r': (V,), 'noise_ceiling': (V,), 'xyz': (V, 3)}}`` from an encoding run's dump."""
    from mmbrain.evaluation.voxelwise import read_voxelwise

    return read_voxelwise(osp.join(run_dir, VOXELWISE_FILE))


def write_figures(results: PipelineResults, fig_dir: str) -> Dict[str, str]:
    """Draw the report's figures of the first seed into ``fig_dir``; returns ``{figure name: path}``."""
    from mmbrain.evaluation.brain_maps import read_maps_index
    from mmbrain.visualization import (
        load_scalar_log,
        plot_ablation,
        plot_brain_map,
        plot_result_maps,
        plot_roi_correlations,
        plot_training_curves,
    )

    plan = results.plan
    seed = plan.seeds[0]
    os.makedirs(fig_dir, exist_ok=True)
    figures = {}

    logs = {}
    for label, run in results.pretrain[seed].items():
        try:
            logs[label] = load_scalar_log(run.run_dir)
        except FileNotFoundError:
            continue
    if logs:
        figures['pretraining curves'] = osp.join(fig_dir, 'pretraining_curves.png')
        plot_training_curves(logs, figures['pretraining curves'], title=f'Pretraining (seed {seed})')

    encoding = results.tasks[seed].get('encoding', {})
    voxelwise = {
        label: _load_voxelwise(r.run_dir)
        for label, r in encoding.items()
        if osp.isfile(osp.join(r.run_dir, VOXELWISE_FILE))
    }
    if voxelwise:
        main = plan.main.label
        reference = voxelwise.get(main) or next(iter(voxelwise.values()))
        shown = {label: voxelwise[label] for label in (RANDOM_INIT, 'CLIP', main) if label in voxelwise}
        figures['per-ROI correlation'] = osp.join(fig_dir, 'roi_correlation.png')
        plot_roi_correlations(
            {label: {g: v['r'] for g, v in groups.items()} for label, groups in shown.items()},
            figures['per-ROI correlation'],
            noise_ceiling={g: v['noise_ceiling'] for g, v in reference.items()},
            title='Encoding accuracy per ROI group, held-out subject, test split (ceiling: sqrt of the noise ceiling)',
        )
        maps = {label: read_maps_index(osp.join(encoding[label].run_dir, BRAIN_MAPS_DIR)) for label in shown}
        maps = {label: index for label, index in maps.items() if index is not None}
        if maps:
            figures['brain maps'] = osp.join(fig_dir, 'brain_maps.png')
            plot_result_maps(
                maps,
                figures['brain maps'],
                key='r',
                title='Prediction correlation per voxel (held-out subject, test split)',
            )
        elif all('xyz' in v for v in reference.values()):
            figures['brain map'] = osp.join(fig_dir, 'brain_map.png')
            plot_brain_map(
                np.concatenate([v['xyz'] for v in reference.values()]),
                np.concatenate([v['r'] for v in reference.values()]),
                figures['brain map'],
                title=f'Prediction correlation per voxel ({main} backbone, held-out subject, test split)',
            )

    encoding_task = next((t for t in plan.tasks if t.name == 'encoding'), None)
    ablation = {}
    for init in plan.pretrain:
        if encoding_task is None or 'encoding' not in init.tasks:
            continue
        metrics = results.pretrain[seed][init.label].metrics
        row = {
            name: metrics[key]
            for key, name in (
                ('retrieval/img2brain_top1', 'image→brain top-1'),
                ('retrieval/brain2img_top1', 'brain→image top-1'),
            )
            if key in metrics
        }
        headline, name = next(iter(encoding_task.metrics.items()))
        if headline in encoding.get(init.label, RunResult('')).metrics:
            row[name] = encoding[init.label].metrics[headline]
        ablation[init.label] = row
    if len(ablation) > 1 and any(ablation.values()):
        figures['ablation'] = osp.join(fig_dir, 'ablation.png')
        plot_ablation(ablation, figures['ablation'], title=f'Pretraining variants (cf. paper Table 3; seed {seed})')

    gradcam = osp.join(plan.seed_dir(seed), 'gradcam', GRADCAM_FILE)
    if plan.gradcam and osp.isfile(gradcam):  # copied, so that a report's figures are all in one folder
        figures['Grad-CAM (paper Fig. 6)'] = osp.join(fig_dir, GRADCAM_FILE)
        with open(gradcam, 'rb') as src, atomic_write(figures['Grad-CAM (paper Fig. 6)'], 'wb') as dst:
            shutil.copyfileobj(src, dst)
    return figures


# -------------------------------------------------------------------------------------------------------- tables
def _fmt(value: Optional[float], signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return '-'
    text = f'{value:+.3f}' if signed else f'{value:.3f}'
    return text if abs(value) < 100 else f'{value:.1f}'


def _cell(values: Sequence[Optional[float]]) -> str:
    s = summarize(values)
    if s.n == 0:
        return '-'
    return _fmt(s.mean) if s.n == 1 else f'{_fmt(s.mean)} ± {_fmt(s.sd)}'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    return ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)] + ['| ' + ' | '.join(r) + ' |' for r in rows]


def _per_seed(per_seed: Dict[int, Dict[str, RunResult]], label: str, key: str) -> List[Optional[float]]:
    return [per_seed[seed].get(label, RunResult('')).metrics.get(key) for seed in sorted(per_seed)]


def _difference(d: PairedDifference) -> str:
    if d.n == 0:
        return '-'
    if not d.defined:
        return f'{_fmt(d.mean, signed=True)} (1 seed, no interval)'
    return f'{_fmt(d.mean, signed=True)} [{_fmt(d.low, signed=True)}, {_fmt(d.high, signed=True)}]'


def _verdict(d: PairedDifference, what: str) -> str:
    if d.n == 0:
        return f'{what}: not measured.'
    if not d.defined:
        return (
            f'{what}: {_fmt(d.mean, signed=True)} on one seed; one seed has no spread, so this report cannot tell '
            'whether the difference is larger than the seed-to-seed variation (run `--seeds 0 1 2`).'
        )
    side = (
        'larger than the seed spread (the interval excludes 0)'
        if d.excludes_zero
        else 'within the seed spread (the interval contains 0): the runs cannot tell these initialisations apart'
    )
    return (
        f'{what}: {_fmt(d.mean, signed=True)}, {int(d.confidence * 100)}% interval [{_fmt(d.low, signed=True)}, '
        f'{_fmt(d.high, signed=True)}] over {d.n} seeds: {side}.'
    )


def _comparisons(labels: Sequence[str], main: str) -> List[Tuple[str, str]]:
    return [(main, other) for other in (RANDOM_INIT, 'CLIP') if other in labels and other != main]


def _task_section(
    task: DownstreamTask,
    results: PipelineResults,
    per_seed: Dict[int, Dict[str, RunResult]],
    ridge: Optional[Dict[int, Dict[str, RunResult]]],
) -> List[str]:
    plan = results.plan
    labels = [RANDOM_INIT if init is None else init.label for init in plan.inits_of(task)]
    lines = [f'### {task.title}', '']
    column_sets = [list(task.metrics.items())]
    if task.name == 'det':  # val2017 (the paper's), then val2017 without the NSD images
        column_sets = [
            [(k, v) for k, v in task.metrics.items() if not k.startswith('coco-wo-nsd/')],
            [(k, v) for k, v in task.metrics.items() if k.startswith('coco-wo-nsd/')],
        ]
    rows_of = [(label, per_seed, label) for label in labels]  # (row name, results per seed, label in them)
    if ridge:
        rows_of += [(f'ridge baseline: {label}', ridge, label) for label in labels]
    trivial = results.majority_class.get(task.name)
    if trivial is not None:
        rows_of.append((MAJORITY_ROW, {0: {MAJORITY_ROW: trivial}}, MAJORITY_ROW))
    for columns in column_sets:
        lines += _table(
            ['initialisation'] + [name for _, name in columns],
            [[row] + [_cell(_per_seed(source, label, key)) for key, _ in columns] for row, source, label in rows_of],
        ) + ['']
    groups = sorted(
        {m.group(1) for runs in per_seed.values() for r in runs.values() for m in map(GROUP_KEY.match, r.metrics) if m}
    )
    if groups:
        lines += ['Mean Pearson r per ROI group:', '']
        lines += _table(
            ['initialisation'] + groups,
            [
                [label] + [_cell(_per_seed(per_seed, label, f'nsd/{g}/pearson_mean')) for g in groups]
                for label in labels
            ],
        ) + ['']

    if trivial is not None and trivial.metrics:
        headline, name = next(iter(task.metrics.items()))
        random_init = summarize(_per_seed(per_seed, RANDOM_INIT, headline))
        lines += [
            f"- Trivial baseline: the majority class everywhere (the training split's most frequent class) scores "
            f'{name} {_fmt(trivial.metrics.get(headline))}; random init reaches {_fmt(random_init.mean)}.',
            '',
        ]

    pairs = _comparisons(labels, plan.main.label)
    if task.name == 'encoding':  # Table 3: the chosen pretraining against its ablations
        pairs += [
            (plan.main.label, init.label) for init in plan.pretrain[1:] if init.label != 'CLIP' and init.label in labels
        ]
    if pairs:
        lines += [f'Paired differences over seeds (mean [{int(CONFIDENCE * 100)}% t-interval]):', '']
        lines += _table(
            ['difference'] + [name for _, name in task.metrics.items()],
            [
                [f'{a} - {b}']
                + [
                    _difference(paired_difference(_per_seed(per_seed, a, key), _per_seed(per_seed, b, key), CONFIDENCE))
                    for key in task.metrics
                ]
                for a, b in pairs
            ],
        ) + ['']
        headline, name = next(iter(task.metrics.items()))
        for a, b in pairs[:2]:
            d = paired_difference(_per_seed(per_seed, a, headline), _per_seed(per_seed, b, headline), CONFIDENCE)
            lines.append('- ' + _verdict(d, f'{a} - {b} on {name}'))
        lines.append('')
    return lines


def _modality(results: PipelineResults, label: str) -> str:
    """What a pretraining pairs images with in its retrieval keys (``brain``; ``text`` for CLIP)."""
    for runs in results.pretrain.values():
        for key in runs.get(label, RunResult('')).metrics:
            match = MODALITY_KEY.match(key)
            if match:
                return match.group(1)
    return 'brain'


def _retrieval_keys(modality: str, subject: str = '') -> List[str]:
    prefix = f'retrieval/{subject}/' if subject else 'retrieval/'
    return [
        prefix + key
        for key in (
            f'img2{modality}_top1',
            f'img2{modality}_top5',
            f'{modality}2img_top1',
            f'{modality}2img_top5',
            f'img2{modality}_chance_top1',
            f'img2{modality}_chance_top5',
        )
    ]


def _pretraining_section(results: PipelineResults) -> List[str]:
    plan = results.plan
    labels = [init.label for init in plan.pretrain]
    modality = {label: _modality(results, label) for label in labels}
    lines = ['## Pretraining: retrieval on held-out rows (%)', '']
    lines += _table(
        [
            'pretraining',
            'images paired with',
            'image→paired top-1',
            'image→paired top-5',
            'paired→image top-1',
            'paired→image top-5',
            'chance top-1',
            'chance top-5',
        ],
        [
            [label, modality[label]]
            + [_cell(_per_seed(results.pretrain, label, key)) for key in _retrieval_keys(modality[label])]
            for label in labels
        ],
    ) + ['']
    subjects = sorted(
        {
            m.group(1)
            for runs in results.pretrain.values()
            for r in runs.values()
            for m in map(SUBJECT_KEY.match, r.metrics)
            if m
        }
    )
    if subjects:
        lines += [
            'Per subject (image→paired / paired→image top-1, chance top-1; queries and gallery of that subject only):',
            '',
        ]
        rows = []
        for label in labels:
            cells = {
                subj: [_cell(_per_seed(results.pretrain, label, key)) for key in _retrieval_keys(modality[label], subj)]
                for subj in subjects
            }
            rows.append([label] + [' / '.join(cells[subj][i] for i in (0, 2, 4)) for subj in subjects])
        lines += _table(['pretraining'] + subjects, rows) + ['']
    ablations = [label for label in labels[1:] if modality[label] == modality[labels[0]]]
    if ablations:  # Table 3: the chosen pretraining against its ablations, on retrieval
        keys = _retrieval_keys(modality[labels[0]])[:4]
        lines += [f'Paired differences over seeds (mean [{int(CONFIDENCE * 100)}% t-interval]):', '']
        lines += _table(
            ['difference', 'image→brain top-1', 'image→brain top-5', 'brain→image top-1', 'brain→image top-5'],
            [
                [f'{labels[0]} - {label}']
                + [
                    _difference(
                        paired_difference(
                            _per_seed(results.pretrain, labels[0], key),
                            _per_seed(results.pretrain, label, key),
                            CONFIDENCE,
                        )
                    )
                    for key in keys
                ]
                for label in ablations
            ],
        ) + ['']
    lines += [
        'Measured at the last validation of each pretraining; chance is the expected hit rate of a random '
        'ranking. Brainformer and its ablations pair images with fMRI, CLIP with captions.',
        '',
    ]
    return lines


def git_commit(path: Optional[str] = None) -> str:
    """The short commit of the checkout at ``path`` (default: mmbrain's own), marked when tracked files differ from
    it (or 'unknown')."""
    import subprocess

    import mmbrain

    path = path or osp.dirname(osp.dirname(osp.abspath(mmbrain.__file__)))
    try:
        head = subprocess.run(
            ['git', '-C', path, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(['git', '-C', path, 'diff', '--quiet', 'HEAD'], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 'unknown'
    if head.returncode != 0:
        return 'unknown'
    return head.stdout.strip() + (' with uncommitted changes' if dirty.returncode == 1 else '')


def write_report(
    results: PipelineResults,
    figures: Dict[str, str],
    path: str,
    command: Sequence[str] = (),
    extra_sections: Optional[List[str]] = None,
    commit: Optional[str] = None,
) -> None:
    """Write the Markdown report atomically; ``commit`` is the code the runs used (default: :func:`git_commit` now)."""
    import mmbrain

    plan = results.plan
    n = len(plan.seeds)
    spread = (
        f'Cells are mean ± sd over {n} seeds ({", ".join(map(str, plan.seeds))}); differences are paired by '
        f'seed, with {int(CONFIDENCE * 100)}% Student-t intervals.'
        if n > 1
        else f'One seed ({plan.seeds[0]}): cells are single runs, with no spread, so no difference below can be told '
        'apart from seed-to-seed variation; `--seeds 0 1 2` measures it.'
    )
    lines = [
        '# Brainformer end-to-end report',
        '',
        f'Data: {"synthetic NSD world" if plan.synthetic else "NSD"} (`{plan.data_root}`, converted '
        f'`{plan.converted_dir}`). Work dir: `{plan.work_dir}`. Command: `{" ".join(command)}`; mmbrain '
        f'{mmbrain.__version__}, commit {commit or git_commit()}.',
        '',
        spread + ' Every number below was measured by these runs; each run folder holds its full log.',
        '',
    ]
    lines += _pretraining_section(results)

    lines += ['## Downstream: random init / CLIP / Brainformer (same schedule, same seeds)', '']
    for task in plan.tasks:
        per_seed = {seed: results.tasks[seed].get(task.name, {}) for seed in plan.seeds}
        lines += _task_section(task, results, per_seed, results.ridge if task.ridge else None)

    if figures:
        lines += ['## Figures', '']
        for name, fig in figures.items():
            lines += [f'### {name}', '', f'![{name}]({osp.relpath(fig, osp.dirname(osp.abspath(path)))})', '']

    lines += extra_sections or []
    lines += ['## Time per stage', '']
    rows = [[name, f'{seconds:.0f}'] for name, seconds in results.timings.items()]
    for seed in plan.seeds:
        prefix = stage_name(seed, '')
        rows.append([f'seed {seed} total', f'{sum(s for k, s in results.timings.items() if k.startswith(prefix)):.0f}'])
    rows.append(['total', f'{sum(results.timings.values()):.0f}'])
    lines += _table(['stage', 'seconds'], rows) + ['']

    with atomic_write(path) as f:
        f.write('\n'.join(lines))

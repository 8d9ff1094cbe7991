# Copyright (c) mmbrain contributors. All rights reserved.
"""The report of the end-to-end job: every metric of paper Tables 1-3 per initialisation, with its spread over seeds.

:func:`collect_results` reads what the runs left through the plan's stage handles (:class:`~.plan.PlannedStages`:
mmengine's ``vis_data/scalars.json`` for validation, the encoding test split's ``tools/test.py`` JSON, the ridge
baseline's JSON); :func:`write_figures` draws the figures with :mod:`mmbrain.visualization`; :func:`write_report`
writes the Markdown: cells are mean ± sd over seeds, every pair of initialisations gets its paired difference with a
95% t-interval on every metric (:mod:`~mmbrain.pipeline.statistics`), and the comparisons the plan declares get a
sentence, with whether the data decide them by construction. Rows, columns, comparisons and notes all come from the
plan's :class:`~.plan.Initialisation` and :class:`~.plan.DownstreamTask` objects; every number is what the runs
measured.
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

from .by_construction import RETRIEVAL
from .plan import (
    BRAIN_MAPS_DIR,
    GRADCAM,
    GRADCAM_FILE,
    GRADCAM_SANITY_FILE,
    MAJORITY_CLASS_FILE,
    PRETRAIN,
    RIDGE,
    RIDGE_FILE,
    TEST_METRICS_FILE,
    VOXELWISE_FILE,
    DownstreamTask,
    Initialisation,
    PipelinePlan,
    PlannedStages,
    build_stages,
    majority_class_kind,
    stage_name,
)
from .slurm import where_ran
from .statistics import PairedDifference, paired_difference, summarize

__all__ = [
    'RunResult',
    'PipelineResults',
    'collect_results',
    'write_figures',
    'write_report',
    'ridge_metrics',
    'git_commit',
    'shown_path',
]

CONFIDENCE = 0.95
MAJORITY_ROW = 'majority class (trivial baseline)'
MODALITY_KEY = re.compile(r'^retrieval/img2([a-z]+)_top1$')
SUBJECT_KEY = re.compile(r'^retrieval/(subj\d+)/(.+)$')
GROUP_KEY = re.compile(r'^nsd/([^/]+)/pearson_mean$')

Handle = Tuple[Optional[int], str, str]


@dataclass
class RunResult:
    """Final metrics of one run (validation log, or the JSON its stage wrote)."""

    run_dir: str
    metrics: Dict[str, float] = field(default_factory=dict)


@dataclass
class PipelineResults:
    """Every run's final metrics, by the stage handle ``(seed, kind, initialisation key)`` of the plan."""

    plan: PipelinePlan
    stages: PlannedStages
    timings: Dict[str, float]
    runs: Dict[Handle, RunResult] = field(default_factory=dict)

    def run(self, seed: Optional[int], kind: str, key: str = '') -> RunResult:
        return self.runs.get((seed, kind, key), RunResult(''))

    def per_seed(self, kind: str, key: str, metric: str) -> List[Optional[float]]:
        """``metric`` of the ``kind`` run from initialisation ``key``, one value per seed (None where missing)."""
        return [self.run(seed, kind, key).metrics.get(metric) for seed in self.plan.seeds]


def _final_validation(run_dir: str) -> Dict[str, float]:
    """The last validation value of every key the run logged (empty if it left no log)."""
    from mmbrain.evaluation.scalar_logs import load_scalar_log

    try:
        log = load_scalar_log(run_dir)
    except FileNotFoundError:
        return {}
    return {key: float(values[-1]) for key, (_, values) in log.val.items() if len(values)}


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


def collect_results(
    plan: PipelinePlan, timings: Dict[str, float], stages: Optional[PlannedStages] = None
) -> PipelineResults:
    """Read the final metrics of every run of ``plan`` through its stage handles (``stages``: what
    :func:`~.plan.build_stages` returned for it; built again when not given). A run that left nothing has none."""
    stages = build_stages(plan) if stages is None else stages
    results = PipelineResults(plan, stages, dict(timings))
    tasks = {task.name: task for task in plan.tasks}
    majority = {majority_class_kind(task) for task in plan.tasks if task.majority_class}
    for (seed, kind, key), stage in stages.handles.items():
        run_dir = stage.output_dir
        if kind == PRETRAIN:
            metrics = _final_validation(run_dir)
        elif kind == RIDGE:
            metrics = ridge_metrics(osp.join(run_dir, RIDGE_FILE))
        elif kind in majority:
            metrics = _json_metrics(osp.join(run_dir, MAJORITY_CLASS_FILE))
        elif kind in tasks:
            test_split = tasks[kind].test_split
            metrics = _json_metrics(osp.join(run_dir, TEST_METRICS_FILE)) if test_split else _final_validation(run_dir)
        else:
            continue  # data, backbones, figures: nothing to score
        results.runs[(seed, kind, key)] = RunResult(run_dir, metrics)
    return results


# ------------------------------------------------------------------------------------------------------- figures
def _on_every_task(plan: PipelinePlan) -> List[Initialisation]:
    """Random init and the pretrainings that run every task (the controls and the main run, not the ablations)."""
    return [plan.random_init] + [i for i in plan.pretrain if all(t.name in i.tasks for t in plan.tasks)]


def write_figures(results: PipelineResults, fig_dir: str) -> Dict[str, str]:
    """Draw the report's figures of the first seed into ``fig_dir``; returns ``{figure name: path}``."""
    from mmbrain.evaluation.brain_maps import read_maps_index
    from mmbrain.evaluation.scalar_logs import load_scalar_log
    from mmbrain.evaluation.voxelwise import read_voxelwise
    from mmbrain.visualization import (
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
    for init in plan.pretrain:
        try:
            logs[init.label] = load_scalar_log(results.run(seed, PRETRAIN, init.key).run_dir)
        except FileNotFoundError:
            continue
    if logs:
        figures['pretraining curves'] = osp.join(fig_dir, 'pretraining_curves.png')
        plot_training_curves(logs, figures['pretraining curves'], title=f'Pretraining (seed {seed})')

    encoding = next((t for t in plan.tasks if t.test_split), None)
    if encoding is not None:
        runs = {init.label: results.run(seed, encoding.name, init.key).run_dir for init in plan.inits_of(encoding)}
        voxelwise = {
            label: read_voxelwise(osp.join(run_dir, VOXELWISE_FILE))
            for label, run_dir in runs.items()
            if run_dir and osp.isfile(osp.join(run_dir, VOXELWISE_FILE))
        }
        shown = {i.label: voxelwise[i.label] for i in _on_every_task(plan) if i.label in voxelwise}
        if shown:
            main = plan.main.label
            reference = voxelwise.get(main) or next(iter(voxelwise.values()))
            figures['per-ROI correlation'] = osp.join(fig_dir, 'roi_correlation.png')
            plot_roi_correlations(
                {label: {g: v['r'] for g, v in groups.items()} for label, groups in shown.items()},
                figures['per-ROI correlation'],
                noise_ceiling={g: v['noise_ceiling'] for g, v in reference.items()},
                title=f'{encoding.title}: accuracy per ROI group (ceiling: sqrt of the noise ceiling)',
            )
            maps = {label: read_maps_index(osp.join(runs[label], BRAIN_MAPS_DIR)) for label in shown}
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

    controls = {i.key for i in _on_every_task(plan)}
    variants = [plan.main] + [i for i in plan.pretrain if i.key not in controls]
    if encoding is not None and len(variants) > 1:
        ablation = {}
        headline, name = encoding.headline
        for init in variants:
            metrics = results.run(seed, PRETRAIN, init.key).metrics
            row = {
                label: metrics[key]
                for key, label in (
                    ('retrieval/img2brain_top1', 'image→brain top-1'),
                    ('retrieval/brain2img_top1', 'brain→image top-1'),
                )
                if key in metrics
            }
            score = results.run(seed, encoding.name, init.key).metrics.get(headline)
            if score is not None:
                row[name] = score
            ablation[init.label] = row
        if any(ablation.values()):
            figures['ablation'] = osp.join(fig_dir, 'ablation.png')
            plot_ablation(ablation, figures['ablation'], title=f'Brainformer and its ablations (seed {seed})')

    stage = results.stages.get(seed, GRADCAM)
    gradcam = osp.join(stage.output_dir, GRADCAM_FILE) if stage is not None else ''
    if gradcam and osp.isfile(gradcam):  # copied, so that a report's figures are all in one folder
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


def _pairs(plan: PipelinePlan, inits: Sequence[Initialisation]) -> List[Tuple[Initialisation, Initialisation]]:
    """Every pair of ``inits``, ``a - b`` in the plan's order (Brainformer, its ablations, the controls, random init
    last) unless a declared comparison orients it the other way."""
    order = {init.key: i for i, init in enumerate(list(plan.pretrain) + [plan.random_init])}
    ranked = sorted(inits, key=lambda init: order[init.key])
    declared = {(c.a, c.b) for c in plan.comparisons()}
    pairs = []
    for i, a in enumerate(ranked):
        for b in ranked[i + 1 :]:
            pairs.append((b, a) if (b.key, a.key) in declared else (a, b))
    return pairs


def _differences(
    results: PipelineResults,
    kind: str,
    inits: Sequence[Initialisation],
    columns: Sequence[Tuple[str, str]],
) -> List[str]:
    """The table of every pairwise difference on every column."""
    return _table(
        ['difference'] + [name for _, name in columns],
        [
            [f'{a.label} - {b.label}']
            + [
                _difference(
                    paired_difference(
                        results.per_seed(kind, a.key, key), results.per_seed(kind, b.key, key), CONFIDENCE
                    )
                )
                for key, _ in columns
            ]
            for a, b in _pairs(results.plan, inits)
        ],
    ) + ['']


def _readings(
    results: PipelineResults, kind: str, scope: str, inits: Sequence[Initialisation], metric: Tuple[str, str]
) -> List[str]:
    """A sentence per declared comparison among ``inits`` on ``metric``, with what the data decide by construction
    (``scope``: the task name, or :data:`RETRIEVAL`)."""
    keys = {init.key for init in inits}
    plan = results.plan
    lines = []
    for c in plan.comparisons():
        if c.a not in keys or c.b not in keys:
            continue
        a, b = plan.initialisation(c.a), plan.initialisation(c.b)
        d = paired_difference(
            results.per_seed(kind, c.a, metric[0]), results.per_seed(kind, c.b, metric[0]), CONFIDENCE
        )
        line = '- ' + _verdict(d, f'{a.label} - {b.label} on {metric[1]} ({c.question})')
        if scope in c.by_construction:
            line += f' Synthetic world: {c.by_construction[scope]}.'
        lines.append(line)
    return lines + [''] if lines else []


def _task_section(task: DownstreamTask, results: PipelineResults) -> List[str]:
    plan = results.plan
    inits = plan.inits_of(task)
    lines = [f'### {task.title}', '']
    rows_of: List[Tuple[str, str, str]] = [(init.label, task.name, init.key) for init in inits]  # row, kind, key
    if task.ridge:
        rows_of += [(f'ridge baseline: {init.label}', RIDGE, init.key) for init in inits]
    trivial = results.runs.get((None, majority_class_kind(task), '')) if task.majority_class else None

    def cells(kind: str, key: str, columns: Sequence[Tuple[str, str]]) -> List[str]:
        return [_cell(results.per_seed(kind, key, metric)) for metric, _ in columns]

    for columns in task.column_sets:
        rows = [[row] + cells(kind, key, columns) for row, kind, key in rows_of]
        if trivial is not None:
            rows.append([MAJORITY_ROW] + [_cell([trivial.metrics.get(metric)]) for metric, _ in columns])
        lines += _table(['initialisation'] + [name for _, name in columns], rows) + ['']
    groups = sorted(
        {
            m.group(1)
            for (_, kind, _), run in results.runs.items()
            if kind == task.name
            for m in map(GROUP_KEY.match, run.metrics)
            if m
        }
    )
    if groups:
        lines += ['Mean Pearson r per ROI group:', '']
        group_columns = [(f'nsd/{g}/pearson_mean', g) for g in groups]
        lines += _table(
            ['initialisation'] + groups, [[init.label] + cells(task.name, init.key, group_columns) for init in inits]
        ) + ['']

    headline, name = task.headline
    if trivial is not None and trivial.metrics:
        random_init = summarize(results.per_seed(task.name, plan.random_init.key, headline))
        lines += [
            f"- Trivial baseline: the majority class everywhere (the training split's most frequent class) scores "
            f'{name} {_fmt(trivial.metrics.get(headline))}; {plan.random_init.label} reaches {_fmt(random_init.mean)}.',
            '',
        ]

    lines += [f'Paired differences over seeds, every pair (mean [{int(CONFIDENCE * 100)}% t-interval]):', '']
    for columns in task.column_sets:
        lines += _differences(results, task.name, inits, columns)
    lines += _readings(results, task.name, task.name, inits, task.headline)
    return lines


def _modality(results: PipelineResults, init: Initialisation) -> str:
    """What a pretraining pairs images with in its retrieval keys (``brain``; ``text`` for CLIP)."""
    for seed in results.plan.seeds:
        for key in results.run(seed, PRETRAIN, init.key).metrics:
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
    inits = list(plan.pretrain)
    modality = {init.key: _modality(results, init) for init in inits}
    lines = ['## Pretraining: retrieval on held-out rows (%)', '']

    def cells(init: Initialisation, subject: str = '') -> List[str]:
        return [_cell(results.per_seed(PRETRAIN, init.key, k)) for k in _retrieval_keys(modality[init.key], subject)]

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
        [[init.label, modality[init.key]] + cells(init) for init in inits],
    ) + ['']
    subjects = sorted(
        {
            m.group(1)
            for (_, kind, _), run in results.runs.items()
            if kind == PRETRAIN
            for m in map(SUBJECT_KEY.match, run.metrics)
            if m
        }
    )
    if subjects:
        lines += [
            'Per subject (image→paired / paired→image top-1, chance top-1; queries and gallery of that subject only):',
            '',
        ]
        rows = []
        for init in inits:
            per_subject = {subj: cells(init, subj) for subj in subjects}
            rows.append([init.label] + [' / '.join(per_subject[subj][i] for i in (0, 2, 4)) for subj in subjects])
        lines += _table(['pretraining'] + subjects, rows) + ['']
    for paired in dict.fromkeys(modality.values()):  # differences only between pretrainings of one modality
        same = [init for init in inits if modality[init.key] == paired]
        if len(same) < 2:
            continue
        keys = _retrieval_keys(paired)[:4]
        names = [f'image→{paired} top-1', f'image→{paired} top-5', f'{paired}→image top-1', f'{paired}→image top-5']
        lines += [
            f'Paired differences over seeds between the pretrainings that pair images with {paired}, every pair '
            f'(mean [{int(CONFIDENCE * 100)}% t-interval]):',
            '',
        ]
        lines += _differences(results, PRETRAIN, same, list(zip(keys, names)))
        lines += _readings(results, PRETRAIN, RETRIEVAL, same, (keys[0], names[0]))
    lines += [
        'Measured at the last validation of each pretraining; chance is the expected hit rate of a random '
        'ranking. Each row says what its images are paired with (fMRI: brain; captions: text).',
        '',
    ]
    return lines


def _gradcam_sanity(results: PipelineResults) -> List[str]:
    """The Grad-CAM stage's sanity checks (Adebayo et al., 2018) as a table, where it wrote them."""
    stage = results.stages.get(results.plan.seeds[0], GRADCAM)
    path = osp.join(stage.output_dir, GRADCAM_SANITY_FILE) if stage is not None else ''
    if not path or not osp.isfile(path):
        return []
    with open(path) as f:
        rows = json.load(f).get('rows', {})
    if not isinstance(rows, dict) or not rows:
        return []

    def value(check: Dict, key: str) -> str:
        v = check.get(key) if isinstance(check, dict) else None
        return 'undefined (constant maps)' if v is None else f'{float(v):+.2f}'

    lines = [
        '### Grad-CAM sanity checks (Adebayo et al., 2018)',
        '',
        'Spearman rank correlation over pixels; near +1 means the map does not depend on what is checked.',
        '',
    ]
    lines += _table(
        ['row', 'with its randomised backbone (mean over images)', 'between images'],
        [
            [label, value(check, 'randomization_spearman_mean'), value(check, 'between_images_spearman')]
            for label, check in rows.items()
        ],
    )
    return lines + ['']


def _reading_notes(plan: PipelinePlan) -> List[str]:
    notes = list(plan.notes) + [note for task in plan.tasks for note in task.notes]
    if not notes:
        return []
    return ['## Reading this report', ''] + [f'- {note}' for note in notes] + ['']


def git_commit(path: Optional[str] = None) -> str:
    """The short commit of the checkout at ``path`` (default: mmbrain's own), marked when tracked files differ from
    it (or 'unknown')."""
    import subprocess

    path = path or _repo_root()
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


def _repo_root() -> str:
    import mmbrain

    return osp.dirname(osp.dirname(osp.abspath(mmbrain.__file__)))


def shown_path(path: str, work_dir: str) -> str:
    """``path`` as a results page shows it: relative to the repository when inside it, else relative to the work dir
    (``WORK_DIR/...``), never this machine's absolute path."""
    path = osp.abspath(path)
    for root, name in ((_repo_root(), ''), (osp.abspath(work_dir), 'WORK_DIR')):
        rel = osp.relpath(path, root)
        if rel == '.':
            return name or '.'
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            return osp.join(name, rel) if name else rel
    return osp.join('WORK_DIR', osp.relpath(path, osp.abspath(work_dir)))


def _shown_command(command: Sequence[str], work_dir: str) -> str:
    return ' '.join(shown_path(arg, work_dir) if osp.isabs(arg) else arg for arg in command)


def write_report(
    results: PipelineResults,
    figures: Dict[str, str],
    path: str,
    command: Sequence[str] = (),
    commit: Optional[str] = None,
) -> None:
    """Write the Markdown report atomically; ``commit`` is the code the runs used (default: :func:`git_commit` now).
    Paths are shown relative to the repository or the work dir (:func:`shown_path`)."""
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
    world = ''
    if plan.synthetic and plan.world_args:
        world = f' World options: `{" ".join(plan.world_args)}`.'
    lines = [
        '# Brainformer end-to-end report',
        '',
        f'Data: {"synthetic NSD world" if plan.synthetic else "NSD"} (`{shown_path(plan.data_root, plan.work_dir)}`, '
        f'converted `{shown_path(plan.converted_dir, plan.work_dir)}`).{world} Work dir: '
        f'`{shown_path(plan.work_dir, plan.work_dir)}`. Command: `{_shown_command(command, plan.work_dir)}`; mmbrain '
        f'{mmbrain.__version__}, commit {commit or git_commit()}.',
        '',
        spread + ' Every number below was measured by these runs; each run folder holds its full log.',
        '',
    ]
    lines += _pretraining_section(results)

    labels = ' / '.join(init.label for init in _on_every_task(plan))
    lines += [f'## Downstream: {labels} (same schedule, same seeds)', '']
    for task in plan.tasks:
        lines += _task_section(task, results)

    if figures:
        lines += ['## Figures', '']
        for name, fig in figures.items():
            lines += [f'### {name}', '', f'![{name}]({osp.relpath(fig, osp.dirname(osp.abspath(path)))})', '']
        lines += _gradcam_sanity(results)

    lines += _reading_notes(plan)
    lines += ['## Time per stage', '']
    folders = {stage.name: stage.output_dir for stage in results.stages}
    rows = [
        [name, f'{seconds:.0f}', where_ran(folders[name]) if name in folders else '']
        for name, seconds in results.timings.items()
    ]
    for seed in plan.seeds:
        prefix = stage_name(seed, '')
        total = sum(s for k, s in results.timings.items() if k.startswith(prefix))
        rows.append([f'seed {seed} total', f'{total:.0f}', ''])
    rows.append(['total', f'{sum(results.timings.values()):.0f}', ''])
    lines += _table(['stage', 'seconds', 'ran on'], rows) + ['']

    with atomic_write(path) as f:
        f.write('\n'.join(lines))

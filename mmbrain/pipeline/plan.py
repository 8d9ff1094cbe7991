# Copyright (c) mmbrain contributors. All rights reserved.
"""What the end-to-end Brainformer job runs: data -> pretrainings -> backbones -> downstream tasks -> report.

A :class:`PipelinePlan` is the one source of truth of the job: its :class:`Initialisation` objects (random init,
Brainformer, its controls and ablations) and :class:`DownstreamTask` objects carry their configs, their report
columns, the comparisons the report reads aloud and the reading notes. :func:`build_stages` turns the plan into
declared :class:`~mmbrain.pipeline.stages.Stage` objects, each running the command a user would type
(``tools/train.py``, mmdet's and mmseg's own ``tools/train.py``, the converters, ...), and returns them as
:class:`PlannedStages`: the stages in order plus a handle per ``(seed, kind, initialisation key)``, through which
the report finds every run's folder. Per seed, every training stage runs with that seed in ``WORK_DIR/seed<N>/``; the
synthetic world and its conversion are shared by all seeds (the seeds study measures the spread of training, on one
world).
"""

import os.path as osp
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmbrain.utils.paths import package_path

from .by_construction import WorldStatements, statements_for, synthetic_world_statements
from .stages import Checkpoint, GeneratedConfig, Out, Stage, StageConfig

__all__ = [
    'Comparison',
    'Initialisation',
    'DownstreamTask',
    'PipelinePlan',
    'PlannedStages',
    'synthetic_plan',
    'nsd_plan',
    'build_stages',
    'RANDOM_INIT',
    'VOXELWISE_FILE',
    'TEST_METRICS_FILE',
    'RIDGE_FILE',
    'BACKBONE_FILE',
    'GRADCAM_FILE',
    'GRADCAM_SANITY_FILE',
    'MAJORITY_CLASS_FILE',
]

#: Files the stages leave for the report.
VOXELWISE_FILE = 'voxelwise.npz'  # per-voxel results of the encoding test split (BrainEncodingMetric)
BRAIN_MAPS_DIR = 'brain_maps'  # the same results as NIfTI volumes / fsaverage overlays (write_brain_maps)
TEST_METRICS_FILE = 'test_metrics.json'  # tools/test.py --out: the encoding test split, scored once
RIDGE_FILE = 'ridge.json'  # tools/analysis_tools/fit_ridge_encoding.py --out
BACKBONE_FILE = 'backbone.pth'  # tools/model_converters/brainformer_to_backbone.py
GRADCAM_FILE = 'gradcam.png'  # tools/analysis_tools/visualize_gradcam.py
GRADCAM_SANITY_FILE = 'gradcam_sanity.json'  # its --sanity-out: the Adebayo et al. (2018) checks of every row
MAJORITY_CLASS_FILE = 'majority_class.json'  # tools/analysis_tools/majority_class_baseline.py --out

#: Stage kinds (the part of a stage name before ``_<initialisation key>``).
WORLD, CONVERT, PRETRAIN, BACKBONE, RIDGE, GRADCAM = 'world', 'convert', 'pretrain', 'backbone', 'ridge', 'gradcam'

#: Label of the downstream runs that start from random init.
RANDOM_INIT = 'random init'

DET_METRICS = {
    f'{prefix}/{kind}_mAP{suffix}': f'{name} AP{suffix.lstrip("_")}{note}'
    for prefix, note in (('coco', ''), ('coco-wo-nsd', ' w/o NSD'))
    for kind, name in (('bbox', 'box'), ('segm', 'mask'))
    for suffix in ('', '_50', '_75')
}
SEG_METRICS = {'mIoU': 'mIoU', 'mAcc': 'mAcc', 'aAcc': 'aAcc'}
ENCODING_METRICS = {
    'nsd/pearson_mean': 'PCC (mean r)',
    'nsd/pearson_median': 'median r',
    'nsd/algonauts_score': 'Algonauts score (median)',
    'nsd/algonauts_score_mean': 'Algonauts score (mean)',
}


@dataclass(frozen=True)
class Comparison:
    """A paired difference ``a - b`` the report reads aloud (every pair gets its interval; these get a sentence).

    Attributes:
        a, b: Initialisation keys (``brainformer``, ``random-init``, ...).
        question: What the difference answers, e.g. ``does the brain signal matter (same pretraining, pairing
            destroyed)``.
        by_construction: Per task name (or :data:`~.by_construction.RETRIEVAL` for the pretraining's own
            retrieval): whether the data decide this comparison by construction, and how (the synthetic world's
            statements, :mod:`~.by_construction`; empty on real data).
    """

    a: str
    b: str
    question: str
    by_construction: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Initialisation:
    """Where a downstream run's backbone comes from: random init, or a pretraining run whose backbone it loads.

    Attributes:
        label: Name in the report (``Brainformer``, ``CLIP``, ``shuffled pairing``, ``w/o guidance loss``, ...).
        key: Folder-name form (``brainformer``, ``clip``, ``shuffled``, ``wo-bfg``, ...).
        config: Pretraining config, relative to the repository; None for random init (nothing is pretrained).
        downstream: How the downstream configs loading this backbone are named (``brainformer-pre``, ``clip-pre``;
            ``rand-init`` for random init).
        tasks: Downstream tasks run from it.
        gradcam_label: Its row in the Grad-CAM figure (paper Fig. 6), or None.
        seed_keys: Config keys that take the training seed besides ``randomness.seed`` (e.g. the shuffled
            pairing's derangement seed).
        comparisons: The paired differences involving it that the report reads aloud.
    """

    label: str
    key: str
    config: Optional[str]
    downstream: str = 'brainformer-pre'
    tasks: Tuple[str, ...] = ('det', 'seg', 'encoding')
    gradcam_label: Optional[str] = None
    seed_keys: Tuple[str, ...] = ()
    comparisons: Tuple[Comparison, ...] = ()


@dataclass
class DownstreamTask:
    """A downstream task run from random init and from every initialisation, with the same schedule and seed.

    Attributes:
        name: Short name (``det``, ``seg``, ``encoding``), used for stage names and ``Initialisation.tasks``.
        title: Name in the report.
        config: Config name with ``{init}`` for ``rand-init`` / ``brainformer-pre`` / ``clip-pre``.
        metrics: Keys reported, ``{key: label}``; the first is the headline.
        columns: The report's tables, each a tuple of keys of ``metrics`` (default: one table of all of them).
        notes: Reading notes of the task, printed under "Reading this report".
        train_tool: ``'mmbrain'`` (tools/train.py) or the library whose own ``tools/train.py`` runs it.
        checkpoint_key: Config key that takes the extracted backbone file.
        reads_brain: Its data is the converted NSD data (its stages read the convert stage); COCO / ADE tasks do not.
        gpus: Processes per training command (None: the plan's ``gpus``).
        test_split: Score the test split once after training with ``tools/test.py`` (checkpoint chosen on
            validation), and write its per-voxel results.
        ridge: Also fit the ridge baseline on the frozen backbone (``fit_ridge_encoding.py``; one task at most).
        majority_class: Also score the trivial baseline that predicts the training split's most frequent class
            everywhere (``majority_class_baseline.py``, once for all seeds: it trains nothing).
    """

    name: str
    title: str
    config: str
    metrics: Dict[str, str]
    columns: Tuple[Tuple[str, ...], ...] = ()
    notes: Tuple[str, ...] = ()
    train_tool: str = 'mmbrain'
    checkpoint_key: str = 'model.backbone.init_cfg.checkpoint'
    reads_brain: bool = False
    gpus: Optional[int] = None
    test_split: bool = False
    ridge: bool = False
    majority_class: bool = False

    def config_for(self, init: Initialisation) -> str:
        return self.config.format(init=init.downstream)

    @property
    def column_sets(self) -> List[List[Tuple[str, str]]]:
        """The report's tables as ``[(key, label), ...]`` lists."""
        sets = self.columns or (tuple(self.metrics),)
        return [[(key, self.metrics[key]) for key in keys] for keys in sets]

    @property
    def headline(self) -> Tuple[str, str]:
        return next(iter(self.metrics.items()))


#: The downstream runs that start from random weights.
RANDOM = Initialisation(RANDOM_INIT, 'random-init', None, 'rand-init')


@dataclass
class PipelinePlan:
    """What the job runs.

    Attributes:
        work_dir: Absolute folder of the runs, figures and the report.
        data_root: Absolute folder of NSD in its native layout (the synthetic world is generated here).
        converted_dir: Absolute folder of the converted ``subjXX.h5`` files.
        synthetic: Generate the synthetic world first.
        seeds: Training seeds; every training stage runs once per seed.
        pretrain: Pretrained initialisations; the first is the main Brainformer run.
        tasks: Downstream tasks.
        random_init: The initialisation without pretraining (first row of every table).
        world_seed: Seed of the synthetic world (shared by all seeds).
        world_args: Extra ``make_synthetic_nsd.py`` arguments (``--snr 0``: the null world).
        convert: Run the converter (False: ``converted_dir`` is a conversion made beforehand, read as is).
        convert_args: Extra ``nsd_to_mmbrain.py`` arguments (``--betas-version b2 --space fsaverage``).
        data_overrides: Config overrides of every stage that reads the converted data (its folder, the stimuli).
        gpus: Processes per training command.
        gradcam: Draw the Grad-CAM figure (from the first seed's runs).
        report: Path of the Markdown report.
        notes: Reading notes of the whole plan, printed under "Reading this report".
    """

    work_dir: str
    data_root: str
    converted_dir: str
    synthetic: bool
    seeds: List[int]
    pretrain: List[Initialisation]
    tasks: List[DownstreamTask]
    random_init: Initialisation = RANDOM
    world_seed: int = 0
    world_args: Tuple[str, ...] = ()
    convert: bool = True
    convert_args: Tuple[str, ...] = ()
    data_overrides: Dict[str, Any] = field(default_factory=dict)
    gpus: int = 1
    gradcam: bool = True
    report: Optional[str] = None
    notes: Tuple[str, ...] = ()

    @property
    def report_file(self) -> str:
        return self.report or osp.join(self.work_dir, 'report.md')

    @property
    def main(self) -> Initialisation:
        return self.pretrain[0]

    @property
    def initialisations(self) -> List[Initialisation]:
        """Random init, then every pretraining (the rows of the report's tables)."""
        return [self.random_init] + list(self.pretrain)

    def initialisation(self, key: str) -> Initialisation:
        return next(init for init in self.initialisations if init.key == key)

    def seed_dir(self, seed: int) -> str:
        return osp.join(self.work_dir, f'seed{seed}')

    def inits_of(self, task: DownstreamTask) -> List[Initialisation]:
        """Random init and every pretraining that runs ``task``."""
        return [self.random_init] + [init for init in self.pretrain if task.name in init.tasks]

    def comparisons(self) -> List[Comparison]:
        return [c for init in self.initialisations for c in init.comparisons]


def stage_name(seed: Optional[int], kind: str, key: str = '') -> str:
    """``seed0/det_brainformer``; the part after the slash is what ``--redo`` takes for every seed. Stages shared by
    all seeds (``seed`` None) have no ``seedN/`` part."""
    name = f'{kind}_{key}' if key else kind
    return name if seed is None else f'seed{seed}/{name}'


class PlannedStages(list):
    """The declared stages of a plan, in order (a list of :class:`Stage`), with a handle per
    ``(seed, kind, initialisation key)``: ``(0, 'det', 'brainformer')``, ``(None, 'convert', '')``,
    ``(None, 'seg_majority-class', '')``. The report finds every run's folder through these handles."""

    def __init__(self) -> None:
        super().__init__()
        self.handles: Dict[Tuple[Optional[int], str, str], Stage] = {}

    def add(self, stage: Stage, seed: Optional[int], kind: str, key: str = '') -> Stage:
        self.append(stage)
        self.handles[(seed, kind, key)] = stage
        return stage

    def get(self, seed: Optional[int], kind: str, key: str = '') -> Optional[Stage]:
        return self.handles.get((seed, kind, key))

    def names(self, *handles: Tuple[Optional[int], str, str]) -> List[str]:
        """Names of the planned stages among ``handles`` (a stage the plan leaves out is not an input)."""
        return [self.handles[h].name for h in handles if h in self.handles]


# ---------------------------------------------------------------------------------------------------- the plans
def majority_class_kind(task: DownstreamTask) -> str:
    """``seg_majority-class``: the stage (and folder under the work dir) of a task's majority-class baseline."""
    return f'{task.name}_majority-class'


_ENCODING_NOTE = (
    'Brain response prediction fits a readout on the frozen backbone (random init: random features). Its checkpoint '
    'is chosen on the validation split (non-test images of the held-out subject); the test split (shared1000) is '
    'scored once, at the end, with tools/test.py. The ridge baseline (himalaya, per-voxel penalty chosen by '
    'cross-validation on the training split) uses the same frozen features.'
)
_ALGONAUTS_NOTE = (
    'Which encoding numbers are comparable with published Algonauts 2023 scores: "Algonauts score" is the '
    "challenge's formula (median over voxels of 100 r^2 / noise ceiling), comparable in definition everywhere and in "
    "value only on the challenge's own data (its layout converted with algonauts_to_mmbrain.py, scored on a held-out "
    "part of its training split); on the synthetic world, or on NSD's func1pt8mm voxels with a held-out subject's "
    'shared1000 images, it compares the rows of this report with each other only. "PCC (mean r)" is the raw mean '
    "Pearson r over unique voxels, comparable with no Algonauts score; times 100 it is mmbrain's reading of Table 2's "
    'NSD PCC (docs/evaluation.md, "The encoding metric and Algonauts 2023").'
)


def _tasks(
    configs: Dict[str, str], encoding_gpus: Optional[int] = None, names: Optional[Sequence[str]] = None
) -> List[DownstreamTask]:
    """det / seg / encoding (and ``encoding-spatial`` where ``configs`` has it) with their report columns; only those
    of ``names`` where given.

    Raises:
        ValueError: A name that is not one of these tasks.
    """
    tasks = [
        DownstreamTask(
            name='det',
            title='Detection and instance segmentation (Mask R-CNN; COCO val2017, and val2017 without the NSD images)',
            config=configs['det'],
            metrics=DET_METRICS,
            columns=(  # val2017 (the paper's), then val2017 without the NSD images
                tuple(k for k in DET_METRICS if not k.startswith('coco-wo-nsd/')),
                tuple(k for k in DET_METRICS if k.startswith('coco-wo-nsd/')),
            ),
            notes=(
                "Detection is scored on COCO val2017 (the paper's protocol) and on val2017 without the images NSD "
                'showed, which pretraining may have seen.',
            ),
            train_tool='mmdet',
        ),
        DownstreamTask(
            name='seg',
            title='Semantic segmentation (UperNet, ADE)',
            config=configs['seg'],
            metrics=SEG_METRICS,
            train_tool='mmseg',
            majority_class=True,
        ),
        DownstreamTask(
            name='encoding',
            title='Brain response prediction (held-out subject 8, pooled readout, test split scored once; '
            'checkpoint chosen on validation)',
            config=configs['encoding'],
            metrics=ENCODING_METRICS,
            notes=(_ENCODING_NOTE, _ALGONAUTS_NOTE),
            reads_brain=True,
            gpus=encoding_gpus,
            test_split=True,
            ridge=True,
        ),
    ]
    if 'encoding-spatial' in configs:
        tasks.append(
            DownstreamTask(
                name='encoding-spatial',
                title='Brain response prediction with the spatial readout (held-out subject 8, the same frozen '
                'backbone; test split scored once)',
                config=configs['encoding-spatial'],
                metrics=ENCODING_METRICS,
                notes=(
                    'The spatial readout keeps where in the image a feature is (a factorised spatial x feature '
                    'readout), which the pooled readout (1x1 in the paper-scale configs, 2x2 in the demo) mostly '
                    'discards; early visual cortex is retinotopic.',
                ),
                reads_brain=True,
                gpus=encoding_gpus,
                test_split=True,
            )
        )
    if names is None:
        return tasks
    unknown = sorted(set(names) - {task.name for task in tasks})
    if unknown:
        raise ValueError(f'no task {", ".join(unknown)}; the tasks are {", ".join(task.name for task in tasks)}')
    return [task for task in tasks if task.name in names]


def _comparison(a: str, b: str, question: str, world: WorldStatements) -> Comparison:
    return Comparison(a, b, question, statements_for(world, a, b))


_DEMO_SCALE_NOTE = (
    'Scale: the synthetic-world runs are cut to fit a 2-core CPU (configs/demo/); differences between rows are those '
    "of a few hundred iterations on a small synthetic world, not the paper's claim. The configs they inherit from "
    '(configs/*/*synthetic*) and the paper-scale configs are listed in README.md. Lines marked "synthetic world" '
    'say whether the world decides a comparison by construction (docs/evaluation.md).'
)


#: The ablations that get a Grad-CAM row (the guidance loss: what the backbone attends to is what it changes).
GRADCAM_ABLATIONS = ('wo-bfg', 'bfg-printed')
#: An ablation of the main pretraining: label, key, config.
Ablation = Tuple[str, str, str]
#: The guidance-loss ablations (label, key): w/o the guidance loss at λ_con 0.5 (the paper's) and at λ_con 1.0 (the
#: same total alignment weight), and Eq. 6 as printed.
GUIDANCE_ABLATIONS = (
    ('w/o guidance loss', 'wo-bfg'),
    ('printed Eq. 6', 'bfg-printed'),
    ('w/o guidance loss, λ_con 1.0', 'wo-bfg-lcon1.0'),
)
#: The Table 3 ablations: a learned positional embedding, and Algorithm 1's printed window count.
TABLE3_ABLATIONS = (('learned positional embedding', 'learned-pos-embed'), ('printed window count', 'printed-windows'))


#: Every ablation (label, key), in the order the plan declares them.
ABLATIONS = GUIDANCE_ABLATIONS + TABLE3_ABLATIONS


def _ablations(pattern: str, guidance: bool, table3: bool, keys: Optional[Sequence[str]] = None) -> List[Ablation]:
    """The ablations asked for, their configs named by ``pattern`` (``{key}``): those of ``keys`` (any of
    :data:`ABLATIONS`), or else the guidance and / or Table 3 groups.

    Raises:
        ValueError: A key that names no ablation.
    """
    if keys is None:
        chosen = (GUIDANCE_ABLATIONS if guidance else ()) + (TABLE3_ABLATIONS if table3 else ())
    else:
        unknown = sorted(set(keys) - {key for _, key in ABLATIONS})
        if unknown:
            raise ValueError(
                f'no ablation {", ".join(unknown)}; the ablations are {", ".join(key for _, key in ABLATIONS)}'
            )
        chosen = tuple((label, key) for label, key in ABLATIONS if key in keys)
    return [(label, key, pattern.format(key=key)) for label, key in chosen]


#: The encoding readouts (the ablations run only these: Table 3 is measured on the brain).
ENCODING_TASKS = ('encoding', 'encoding-spatial')


def _initialisations(config: str, ablations: Sequence[Ablation], world: WorldStatements) -> List[Initialisation]:
    """Brainformer, its ablations (encoding tasks only), the shuffled-pairing control and CLIP; ``config`` formats
    ``{model}`` (``brainformer`` / ``clip``) and ``{variant}`` (``''`` / ``_shuffled-pairing``)."""
    questions = [
        ('random-init', 'does brain pretraining help at all'),
        ('shuffled', 'does the brain signal matter (the same pretraining with the pairing destroyed)'),
        ('clip', 'fMRI against captions as the paired modality (paper Tables 1-2)'),
    ] + [(key, f'the ablation {label!r}, paper Table 3') for label, key, _ in ablations]
    main = Initialisation(
        'Brainformer',
        'brainformer',
        config.format(variant='', model='brainformer'),
        tasks=('det', 'seg') + ENCODING_TASKS,
        gradcam_label='Brainformer',
        comparisons=tuple(_comparison('brainformer', b, question, world) for b, question in questions),
    )
    inits = [main]
    for label, key, ablation_config in ablations:
        inits.append(
            Initialisation(
                label,
                key,
                ablation_config,
                tasks=ENCODING_TASKS,
                gradcam_label=label if key in GRADCAM_ABLATIONS else None,
                comparisons=(_comparison(key, 'shuffled', 'does the ablation still use the brain signal', world),),
            )
        )
    inits += [
        Initialisation(
            'shuffled pairing',
            'shuffled',
            config.format(variant='_shuffled-pairing', model='brainformer'),
            tasks=('det', 'seg') + ENCODING_TASKS,
            gradcam_label='shuffled pairing',
            seed_keys=('train_dataloader.dataset.pairing_seed',),
            comparisons=(
                _comparison(
                    'shuffled', 'random-init', 'does the act of pretraining help, without the brain signal', world
                ),
            ),
        ),
        Initialisation(
            'CLIP',
            'clip',
            config.format(variant='', model='clip'),
            'clip-pre',
            tasks=('det', 'seg') + ENCODING_TASKS,
            gradcam_label='CLIP',
            comparisons=(_comparison('clip', 'random-init', 'does caption pretraining help', world),),
        ),
    ]
    return inits


def synthetic_plan(
    work_dir: str = 'work_dirs/demo',
    seeds: Sequence[int] = (0,),
    table3: bool = False,
    guidance_ablations: bool = True,
    ablations: Optional[Sequence[str]] = None,
    task_names: Optional[Sequence[str]] = None,
    world_seed: int = 0,
    world_args: Sequence[str] = (),
    report: Optional[str] = None,
) -> PipelinePlan:
    """The default job: the synthetic NSD world at 2-core-CPU scale (configs/demo/).

    Pretrains Brainformer (the chosen guidance variant), the shuffled-pairing control, CLIP and the guidance
    ablations (w/o the guidance loss at λ_con 0.5 and at λ_con 1.0, Eq. 6 as printed); det / seg / encoding (pooled and
    spatial readout) from random init, shuffled, CLIP and Brainformer, encoding (with the ridge baseline) also from
    the ablations. ``table3`` adds the Table 3 ablations (a learned positional embedding; Algorithm 1's printed
    window count); ``guidance_ablations=False`` leaves the guidance ablations out (to make room in the time
    budget); ``ablations`` (keys of :data:`ABLATIONS`) chooses them one by one instead of both switches, and
    ``task_names`` the downstream tasks (default: all).
    ``world_args`` go to ``make_synthetic_nsd.py`` (e.g. ``('--snr', '0')``: the null world). Relative
    paths resolve against the current folder; the world is generated in ``data/synthetic_nsd``, where the
    ``*synthetic*`` configs read it.
    """
    demo = 'configs/demo/'
    chosen = _ablations(
        demo + 'brainformer_convnext-mini_{key}_1xb32-600i_synthetic-demo.py', guidance_ablations, table3, ablations
    )
    configs = dict(
        det=demo + 'mask-rcnn_convnext-mini-{init}_fpn_1xb4-1500i_synthetic-coco-demo.py',
        seg=demo + 'upernet_convnext-mini-{init}_1xb8-300i_synthetic-ade-64x64-demo.py',
        encoding=demo + 'voxel-readout_convnext-mini-{init}_1xb32-4e_synthetic-nsd-subj08-demo.py',
        **{
            'encoding-spatial': demo
            + 'voxel-readout-spatial_convnext-mini-{init}_1xb32-4e_synthetic-nsd-subj08-demo.py'
        },
    )
    data_root = osp.abspath('data/synthetic_nsd')
    return PipelinePlan(
        work_dir=osp.abspath(work_dir),
        data_root=data_root,
        converted_dir=osp.join(data_root, 'mmbrain'),
        synthetic=True,
        seeds=list(seeds),
        world_seed=world_seed,
        world_args=tuple(world_args),
        pretrain=_initialisations(
            demo + '{model}_convnext-mini{variant}_1xb32-600i_synthetic-demo.py',
            chosen,
            synthetic_world_statements(list(configs), world_args),
        ),
        tasks=_tasks(configs, names=task_names),
        report=report,
        notes=(_DEMO_SCALE_NOTE,),
    )


#: Where the paper configs read NSD (configs/_base_/datasets/nsd.py): the converted files and the stimuli.
NSD_CONFIG_ROOT = 'data/nsd'


def nsd_plan(
    nsd_root: str,
    gpus: int = 8,
    backbone: str = 'convnext-s',
    work_dir: str = 'work_dirs/nsd',
    seeds: Sequence[int] = (0,),
    table3: bool = False,
    guidance_ablations: bool = False,
    ablations: Optional[Sequence[str]] = None,
    task_names: Optional[Sequence[str]] = None,
    converted_root: Optional[str] = None,
    converted: Optional[str] = None,
    convert_args: Sequence[str] = (),
    report: Optional[str] = None,
) -> PipelinePlan:
    """The paper's job on the real NSD (Sec. 4): the paper configs, ``gpus`` processes per training command.

    Expects NSD in its native layout under ``nsd_root`` (docs/data.md), read only: it is converted into
    ``converted_root`` (default ``WORK_DIR/converted``) with ``nsd_to_mmbrain.py`` and ``convert_args``, or read from
    ``converted``, a conversion made beforehand. COCO / ADE20K and the caption files must be where the det / seg /
    CLIP configs read them (``data/coco``, ``data/ade/ADEChallengeData2016``; :func:`missing_data` checks them before
    any stage runs). The encoding task runs on one GPU: its configs are ``1xb64`` (the batch, and so the learning
    rate, they were tuned for), and a frozen-backbone readout is small.

    Raises:
        ValueError: An unknown backbone, both ``converted`` and ``converted_root``, or an ablation that has no
            config for ``backbone`` (the message names it).
    """
    if backbone not in ('convnext-s', 'swin-s'):
        raise ValueError(f'nsd_plan: backbone must be convnext-s or swin-s, got {backbone!r}')
    if converted and converted_root:
        raise ValueError('nsd_plan: give --converted (a conversion made beforehand) or --converted-root, not both')
    nsd_root = osp.abspath(nsd_root)
    work_dir = osp.abspath(work_dir)
    converted_dir = osp.abspath(converted or converted_root or osp.join(work_dir, 'converted'))
    chosen = _ablations(
        f'configs/pretrain/ablations/brainformer_{backbone}_{{key}}_8xb64-coslr-100e_nsd.py',
        guidance_ablations,
        table3,
        ablations,
    )
    missing = [config for _, _, config in chosen if not osp.isfile(_shipped(config))]
    if missing:
        raise ValueError(f'nsd_plan: no {backbone} config for the ablations asked for: {", ".join(missing)}')
    data_overrides: Dict[str, Any] = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        data_overrides[f'{loader}.dataset.data_root'] = converted_dir
        if nsd_root != osp.abspath(NSD_CONFIG_ROOT):
            from mmbrain.datasets.nsd_files import stimuli_path

            data_overrides[f'{loader}.dataset.stimuli_file'] = stimuli_path(nsd_root)
    return PipelinePlan(
        work_dir=work_dir,
        data_root=nsd_root,
        converted_dir=converted_dir,
        synthetic=False,
        seeds=list(seeds),
        pretrain=_initialisations(
            'configs/pretrain/{model}_' + backbone + '{variant}_8xb64-coslr-100e_nsd.py', chosen, {}
        ),
        gpus=gpus,
        convert=converted is None,
        convert_args=tuple(convert_args),
        data_overrides=data_overrides,
        tasks=_tasks(
            dict(
                det=f'configs/det/mask-rcnn_{backbone}-{{init}}_fpn_8xb2-1x_coco.py',
                seg=f'configs/seg/upernet_{backbone}-{{init}}_8xb2-160k_ade20k-512x512.py',
                encoding=f'configs/encoding/voxel-readout_{backbone}-{{init}}_1xb64-20e_nsd-subj08.py',
            ),
            encoding_gpus=1,
            names=task_names,
        ),
        report=report,
    )


# --------------------------------------------------------------------------------------------------- the stages
def python_command(*args: str) -> List:
    """``args`` run by this interpreter."""
    return [sys.executable, *args]


def _shipped(relpath: str) -> str:
    """A shipped config's or tool's absolute path; one not written yet keeps its would-be path (the runner reports
    it missing before anything runs)."""
    try:
        return package_path(relpath)
    except FileNotFoundError:
        return osp.join(osp.dirname(package_path('configs')), relpath)


def train_command(gpus: int, tool: str = 'mmbrain') -> List:
    """The training command of a stage's generated config: ``tools/train.py`` (``dist_train.sh`` for several GPUs) or
    the library's own ``tools/train.py`` (``mmdet/.mim/tools/train.py``), under torchrun for several GPUs."""
    if tool == 'mmbrain':
        if gpus > 1:
            return ['bash', _shipped('tools/dist_train.sh'), GeneratedConfig(), str(gpus), '--work-dir', Out()]
        return python_command(_shipped('tools/train.py'), GeneratedConfig(), '--work-dir', Out())
    import importlib.util

    spec = importlib.util.find_spec(tool)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f'{tool} is not installed (needed for its own tools/train.py)')
    script = osp.join(list(spec.submodule_search_locations)[0], '.mim', 'tools', 'train.py')
    if gpus > 1:
        return python_command(
            '-m',
            'torch.distributed.run',
            f'--nproc_per_node={gpus}',
            script,
            GeneratedConfig(),
            '--launcher',
            'pytorch',
            '--work-dir',
            Out(),
        )
    return python_command(script, GeneratedConfig(), '--work-dir', Out())


def _reserved_gpus(plan: PipelinePlan, gpus: int) -> int:
    """The GPUs a training stage reserves (the runner shares a machine's GPUs among stages by it): its processes on
    real data; none on the synthetic world, whose stages run on CPU cores."""
    return 0 if plan.synthetic else gpus


def _add_world(plan: PipelinePlan, stages: PlannedStages) -> None:
    annotations = 'coco/annotations/instances_{}2017{}.json'
    # As the paper does for COCO: no image NSD showed in downstream training, and val2017 also without them.
    exclude = python_command(
        _shipped('tools/dataset_converters/coco_exclude_nsd.py'),
        Out(annotations.format('train', '')),
        Out('nsddata/experiments/nsd/nsd_stim_info_merged.csv'),
        Out(annotations.format('train', '_nsd-excluded')),
        '--val',
        Out(annotations.format('val', '')),
        Out(annotations.format('val', '_nsd-excluded')),
    )
    generate = python_command(
        _shipped('tools/dataset_converters/make_synthetic_nsd.py'),
        '--out',
        Out(),
        '--overwrite',
        '--quiet',
        '--seed',
        str(plan.world_seed),
        *plan.world_args,
    )
    stages.add(
        Stage(
            WORLD,
            'generate the synthetic NSD world (native NSD layout, COCO and ADE versions); COCO train and val without '
            'the NSD images' + (f' (world options: {shlex.join(plan.world_args)})' if plan.world_args else ''),
            [generate, exclude],
            root=osp.dirname(plan.data_root),
            folder=osp.basename(plan.data_root),
            seed=plan.world_seed,
        ),
        None,
        WORLD,
    )


def _add_convert(plan: PipelinePlan, stages: PlannedStages) -> None:
    """The conversion, with the converter's progress and data-quality warnings shown (no ``--quiet``)."""
    command = python_command(
        _shipped('tools/dataset_converters/nsd_to_mmbrain.py'),
        '--nsd-root',
        plan.data_root,
        '--out',
        Out(),
        '--overwrite',
        *plan.convert_args,
    )
    stages.add(
        Stage(
            CONVERT,
            'convert the NSD files with tools/dataset_converters/nsd_to_mmbrain.py'
            + (f' {shlex.join(plan.convert_args)}' if plan.convert_args else ''),
            [command],
            root=osp.dirname(plan.converted_dir),
            folder=osp.basename(plan.converted_dir),
            inputs=stages.names((None, WORLD, '')),
            reads=[] if plan.synthetic else [osp.join(plan.data_root, folder) for folder in CONVERTER_READS],
        ),
        None,
        CONVERT,
    )


def _data_inputs(stages: PlannedStages, reads_brain: bool) -> List[str]:
    """The data stages a stage reads: the world (COCO / ADE / NSD) and, for brain data, the conversion."""
    return stages.names((None, WORLD, ''), *([(None, CONVERT, '')] if reads_brain else []))


def _native_reads(plan: PipelinePlan, reads_brain: bool) -> List[str]:
    """The files of real data a brain-reading stage reads that no stage writes (their sizes and times enter its
    identity): the NSD stimuli, and a conversion made beforehand. The synthetic world is a stage of its own."""
    if plan.synthetic or not reads_brain:
        return []
    from mmbrain.datasets.nsd_files import stimuli_path

    return [stimuli_path(plan.data_root)] + ([] if plan.convert else [plan.converted_dir])


#: What the converter reads under the NSD root (the experiment design, ROIs and betas); nsddata_stimuli is read by
#: the training stages themselves.
CONVERTER_READS = ('nsddata', 'nsddata_betas')


def _add_majority_class(plan: PipelinePlan, stages: PlannedStages, task: DownstreamTask) -> None:
    kind = majority_class_kind(task)
    command = python_command(
        _shipped('tools/analysis_tools/majority_class_baseline.py'),
        GeneratedConfig(),
        '--out',
        Out(MAJORITY_CLASS_FILE),
    )
    overrides = dict(plan.data_overrides) if task.reads_brain else {}
    stages.add(
        Stage(
            kind,
            f'{task.name}: score the majority-class prediction (the trivial baseline)',
            [command],
            root=plan.work_dir,
            inputs=_data_inputs(stages, task.reads_brain),
            reads=_native_reads(plan, task.reads_brain),
            config=StageConfig(_shipped(task.config_for(plan.random_init)), overrides),
        ),
        None,
        kind,
    )


def _seeded(init: Initialisation, seed: int) -> Dict[str, Any]:
    return {'randomness.seed': seed, **{key: seed for key in init.seed_keys}}


def _add_pretraining(plan: PipelinePlan, stages: PlannedStages, seed: int, init: Initialisation) -> None:
    """The pretraining run of ``init`` and the extraction of its image backbone."""
    root = plan.seed_dir(seed)
    pretrain = stages.add(
        Stage(
            stage_name(seed, PRETRAIN, init.key),
            f'pretrain {init.label} ({init.config}), seed {seed}',
            [train_command(plan.gpus)],
            root=root,
            inputs=_data_inputs(stages, reads_brain=True),
            reads=_native_reads(plan, reads_brain=True),
            seed=seed,
            config=StageConfig(_shipped(init.config), {**_seeded(init, seed), **plan.data_overrides}),
            gpus=_reserved_gpus(plan, plan.gpus),
        ),
        seed,
        PRETRAIN,
        init.key,
    )
    extract = python_command(
        _shipped('tools/model_converters/brainformer_to_backbone.py'), Checkpoint(pretrain.name), Out(BACKBONE_FILE)
    )
    stages.add(
        Stage(
            stage_name(seed, BACKBONE, init.key),
            f'extract the image backbone of {init.label}, seed {seed}',
            [extract],
            root=root,
            inputs=[pretrain.name],
        ),
        seed,
        BACKBONE,
        init.key,
    )


def _downstream_overrides(
    plan: PipelinePlan, stages: PlannedStages, seed: int, task: DownstreamTask, init: Initialisation
) -> Tuple[Dict[str, Any], List[str]]:
    """The seed, the data overrides and the backbone file of a downstream run from ``init``, and the stages it reads."""
    overrides: Dict[str, Any] = {'randomness.seed': seed, **(plan.data_overrides if task.reads_brain else {})}
    inputs = _data_inputs(stages, task.reads_brain)
    backbone = stages.get(seed, BACKBONE, init.key)
    if backbone is not None:
        inputs.append(backbone.name)
        overrides[task.checkpoint_key] = osp.join(backbone.output_dir, BACKBONE_FILE)
    return overrides, inputs


def _add_downstream(
    plan: PipelinePlan, stages: PlannedStages, seed: int, task: DownstreamTask, init: Initialisation
) -> None:
    """A downstream run of ``task`` from ``init`` (with its test-split scoring where the task has one)."""
    overrides, inputs = _downstream_overrides(plan, stages, seed, task, init)
    gpus = task.gpus or plan.gpus
    commands = [train_command(gpus, task.train_tool)]
    if task.test_split:
        overrides['test_evaluator.voxelwise_file'] = Out(VOXELWISE_FILE)
        overrides['test_evaluator.brain_maps_dir'] = Out(BRAIN_MAPS_DIR)
        commands.append(
            python_command(
                _shipped('tools/test.py'),
                GeneratedConfig(),
                Checkpoint(),
                '--work-dir',
                Out('test'),
                '--out',
                Out(TEST_METRICS_FILE),
            )
        )
    config = StageConfig(_shipped(task.config_for(init)), overrides)
    stages.add(
        Stage(
            stage_name(seed, task.name, init.key),
            f'{task.name} from {init.label} ({osp.basename(config.file)}), seed {seed}',
            commands,
            root=plan.seed_dir(seed),
            inputs=inputs,
            reads=_native_reads(plan, task.reads_brain),
            seed=seed,
            config=config,
            gpus=_reserved_gpus(plan, gpus),
        ),
        seed,
        task.name,
        init.key,
    )


def _add_ridge(
    plan: PipelinePlan, stages: PlannedStages, seed: int, task: DownstreamTask, init: Initialisation
) -> None:
    """The field's baseline on the same frozen backbone, fitted and scored by himalaya."""
    overrides, inputs = _downstream_overrides(plan, stages, seed, task, init)
    checkpoint = ['--checkpoint', overrides[task.checkpoint_key]] if task.checkpoint_key in overrides else []
    command = python_command(
        _shipped('tools/analysis_tools/fit_ridge_encoding.py'),
        GeneratedConfig(),
        *checkpoint,
        '--seed',
        str(seed),
        '--out',
        Out(RIDGE_FILE),
    )
    stages.add(
        Stage(
            stage_name(seed, RIDGE, init.key),
            f'ridge baseline on the frozen backbone of {init.label}, seed {seed}',
            [command],
            root=plan.seed_dir(seed),
            inputs=inputs,
            reads=_native_reads(plan, task.reads_brain),
            seed=seed,
            config=StageConfig(_shipped(task.config_for(init)), overrides),
        ),
        seed,
        RIDGE,
        init.key,
    )


def _add_gradcam(plan: PipelinePlan, stages: PlannedStages, seed: int) -> None:
    """The Grad-CAM figure (paper Fig. 6): random init, the other pretrainings, the chosen variant last."""
    rows = python_command(
        _shipped('tools/analysis_tools/visualize_gradcam.py'), '--model', RANDOM_INIT, _shipped(plan.main.config)
    )
    inputs = []
    shown = [init for init in plan.pretrain if init.gradcam_label]
    for init in shown[1:] + shown[:1]:
        pretrain = stages.get(seed, PRETRAIN, init.key)
        rows += ['--model', init.gradcam_label, _shipped(init.config), Checkpoint(pretrain.name)]
        inputs.append(pretrain.name)
    rows += [
        '--num-images',
        '6',
        '--target-layer',
        'backbone.stages.2',
        '--seed',
        str(seed),
        '--out',
        Out(GRADCAM_FILE),
        '--sanity-out',
        Out(GRADCAM_SANITY_FILE),
    ]
    config = None
    if plan.data_overrides:  # the stimuli from where this plan keeps the data (the main config plus its overrides)
        rows += ['--data-config', GeneratedConfig()]
        config = StageConfig(_shipped(plan.main.config), dict(plan.data_overrides))
    stages.add(
        Stage(
            stage_name(seed, GRADCAM),
            'Grad-CAM figure (paper Fig. 6)',
            [rows],
            root=plan.seed_dir(seed),
            inputs=_data_inputs(stages, reads_brain=True) + inputs,
            reads=_native_reads(plan, reads_brain=True),
            seed=seed,
            config=config,
        ),
        seed,
        GRADCAM,
    )


def build_stages(plan: PipelinePlan) -> PlannedStages:
    """The declared stages of ``plan``, in order (every stage after the stages it reads), with their handles.

    Raises:
        ValueError: More than one task asks for the ridge baseline (its stages are named per initialisation).
    """
    if sum(task.ridge for task in plan.tasks) > 1:
        raise ValueError('build_stages: one task at most may fit the ridge baseline')
    stages = PlannedStages()
    if plan.synthetic:
        _add_world(plan, stages)
    if plan.convert:
        _add_convert(plan, stages)
    for task in plan.tasks:
        if task.majority_class:
            _add_majority_class(plan, stages, task)
    for seed in plan.seeds:
        for init in plan.pretrain:
            _add_pretraining(plan, stages, seed, init)
        for task in plan.tasks:
            for init in plan.inits_of(task):
                _add_downstream(plan, stages, seed, task, init)
                if task.ridge:
                    _add_ridge(plan, stages, seed, task, init)
    if plan.gradcam:
        _add_gradcam(plan, stages, plan.seeds[0])
    return stages

# Copyright (c) mmbrain contributors. All rights reserved.
"""What the end-to-end Brainformer job runs: data -> pretrainings -> backbones -> downstream tasks -> report.

A :class:`PipelinePlan` names the configs; :func:`build_stages` turns it into declared
:class:`~mmbrain.pipeline.stages.Stage` objects, each running the command a user would type (``tools/train.py``,
mmdet's and mmseg's own ``tools/train.py``, the converters, ...). Per seed, every training stage of the plan runs with
that seed in ``WORK_DIR/seed<N>/``; the synthetic world and its conversion are shared by all seeds (the seeds study
measures the spread of training, on one world).
"""

import os.path as osp
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmbrain.utils.paths import package_path

from .stages import Checkpoint, GeneratedConfig, Out, Stage, StageConfig

__all__ = [
    'Initialisation',
    'DownstreamTask',
    'PipelinePlan',
    'synthetic_plan',
    'nsd_plan',
    'build_stages',
    'slug',
    'majority_class_stage',
    'RANDOM_INIT',
    'VOXELWISE_FILE',
    'TEST_METRICS_FILE',
    'RIDGE_FILE',
    'BACKBONE_FILE',
    'GRADCAM_FILE',
    'MAJORITY_CLASS_FILE',
]

#: Files the stages leave for the report.
VOXELWISE_FILE = 'voxelwise.npz'  # per-voxel results of the encoding test split (BrainEncodingMetric)
BRAIN_MAPS_DIR = 'brain_maps'  # the same results as NIfTI volumes / fsaverage overlays (write_brain_maps)
TEST_METRICS_FILE = 'test_metrics.json'  # tools/test.py --out: the encoding test split, scored once
RIDGE_FILE = 'ridge.json'  # tools/analysis_tools/fit_ridge_encoding.py --out
BACKBONE_FILE = 'backbone.pth'  # tools/model_converters/brainformer_to_backbone.py
GRADCAM_FILE = 'gradcam.png'  # tools/analysis_tools/visualize_gradcam.py
MAJORITY_CLASS_FILE = 'majority_class.json'  # tools/analysis_tools/majority_class_baseline.py --out

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


@dataclass
class Initialisation:
    """A pretraining run whose backbone initialises downstream runs.

    Attributes:
        label: Name in the report (``Brainformer``, ``CLIP``, ``w/o guidance loss``, ...).
        key: Folder-name form (``brainformer``, ``clip``, ``wo-bfg``, ...).
        config: Pretraining config, relative to the repository.
        downstream: How the downstream configs loading this backbone are named (``brainformer-pre``, ``clip-pre``).
        tasks: Downstream tasks run from it.
        gradcam_label: Its row in the Grad-CAM figure (paper Fig. 6), or None.
    """

    label: str
    key: str
    config: str
    downstream: str = 'brainformer-pre'
    tasks: Tuple[str, ...] = ('det', 'seg', 'encoding')
    gradcam_label: Optional[str] = None


@dataclass
class DownstreamTask:
    """A downstream task run from random init and from every initialisation, with the same schedule and seed.

    Attributes:
        name: Short name (``det``, ``seg``, ``encoding``), used for stage names.
        title: Name in the report.
        config: Config name with ``{init}`` for ``rand-init`` / ``brainformer-pre`` / ``clip-pre``.
        metrics: Keys reported, ``{key: label}``; the first is the headline.
        train_tool: ``'mmbrain'`` (tools/train.py) or the library whose own ``tools/train.py`` runs it.
        checkpoint_key: Config key that takes the extracted backbone file.
        test_split: Score the test split once after training with ``tools/test.py`` (checkpoint chosen on
            validation), and write its per-voxel results.
        ridge: Also fit the ridge baseline on the frozen backbone (``fit_ridge_encoding.py``).
        majority_class: Also score the trivial baseline that predicts the training split's most frequent class
            everywhere (``majority_class_baseline.py``, once for all seeds: it trains nothing).
    """

    name: str
    title: str
    config: str
    metrics: Dict[str, str]
    train_tool: str = 'mmbrain'
    checkpoint_key: str = 'model.backbone.init_cfg.checkpoint'
    test_split: bool = False
    ridge: bool = False
    majority_class: bool = False

    def config_for(self, init: Optional[Initialisation]) -> str:
        return self.config.format(init='rand-init' if init is None else init.downstream)


@dataclass
class PipelinePlan:
    """What the job runs.

    Attributes:
        work_dir: Absolute folder of the runs, figures and the report.
        data_root: Absolute folder of NSD in its native layout (the synthetic world is generated here).
        converted_dir: Absolute folder of the converted ``subjXX.h5`` files.
        synthetic: Generate the synthetic world first.
        seeds: Training seeds; every training stage runs once per seed.
        world_seed: Seed of the synthetic world (shared by all seeds).
        pretrain: Initialisations; the first is the main Brainformer run.
        tasks: Downstream tasks.
        gpus: Processes per training command.
        gradcam: Draw the Grad-CAM figure (from the first seed's runs).
        report: Path of the Markdown report.
    """

    work_dir: str
    data_root: str
    converted_dir: str
    synthetic: bool
    seeds: List[int]
    pretrain: List[Initialisation]
    tasks: List[DownstreamTask]
    world_seed: int = 0
    gpus: int = 1
    gradcam: bool = True
    report: Optional[str] = None

    @property
    def report_file(self) -> str:
        return self.report or osp.join(self.work_dir, 'report.md')

    @property
    def main(self) -> Initialisation:
        return self.pretrain[0]

    def seed_dir(self, seed: int) -> str:
        return osp.join(self.work_dir, f'seed{seed}')

    def inits_of(self, task: DownstreamTask) -> List[Optional[Initialisation]]:
        """Random init (None) and every initialisation that runs ``task``."""
        return [None] + [init for init in self.pretrain if task.name in init.tasks]


def slug(label: str) -> str:
    """A folder-name form of a run label."""
    out = ''.join(c if c.isalnum() else '-' for c in label.lower()).strip('-')
    while '--' in out:
        out = out.replace('--', '-')
    return out


def init_key(init: Optional[Initialisation]) -> str:
    return slug(RANDOM_INIT) if init is None else init.key


def stage_name(seed: int, kind: str, key: str = '') -> str:
    """``seed0/det_brainformer``; the part after the slash is what ``--redo`` takes for every seed."""
    return f'seed{seed}/{kind}_{key}' if key else f'seed{seed}/{kind}'


def majority_class_stage(task: DownstreamTask) -> str:
    """``seg_majority-class``: the stage (and folder under the work dir) of a task's majority-class baseline."""
    return f'{task.name}_majority-class'


def _tasks(configs: Dict[str, str]) -> List[DownstreamTask]:
    return [
        DownstreamTask(
            name='det',
            title='Detection and instance segmentation (Mask R-CNN; COCO val2017, and val2017 without the NSD images)',
            config=configs['det'],
            metrics=DET_METRICS,
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
            title='Brain response prediction (held-out subject 8, test split scored '
            'once; checkpoint chosen on validation)',
            config=configs['encoding'],
            metrics=ENCODING_METRICS,
            test_split=True,
            ridge=True,
        ),
    ]


def synthetic_plan(
    work_dir: str = 'work_dirs/demo',
    seeds: Sequence[int] = (0,),
    table3: bool = False,
    guidance_ablations: bool = True,
    world_seed: int = 0,
    report: Optional[str] = None,
) -> PipelinePlan:
    """The default job: the synthetic NSD world at 2-core-CPU scale (configs/demo/).

    Pretrains Brainformer (the chosen guidance variant), CLIP and the guidance ablations (w/o the guidance loss,
    Eq. 6 as printed); det / seg / encoding from random init, CLIP and Brainformer, encoding (with the ridge
    baseline) also from the ablations. ``table3`` adds the learned-positional-embedding ablation of Table 3;
    ``guidance_ablations=False`` leaves the two guidance ablations out (to make room in the time budget).
    Relative paths resolve against the current folder; the world is generated in ``data/synthetic_nsd``, where the
    ``*synthetic*`` configs read it.
    """
    demo = 'configs/demo/'
    pretrain = [
        Initialisation(
            'Brainformer',
            'brainformer',
            demo + 'brainformer_convnext-mini_1xb32-600i_synthetic-demo.py',
            gradcam_label='Brainformer',
        ),
        Initialisation(
            'CLIP', 'clip', demo + 'clip_convnext-mini_1xb32-600i_synthetic-demo.py', 'clip-pre', gradcam_label='CLIP'
        ),
        Initialisation(
            'w/o guidance loss',
            'wo-bfg',
            demo + 'brainformer_convnext-mini_wo-bfg_1xb32-600i_synthetic-demo.py',
            tasks=('encoding',),
            gradcam_label='w/o guidance loss',
        ),
        Initialisation(
            'printed Eq. 6',
            'bfg-printed',
            demo + 'brainformer_convnext-mini_bfg-printed_1xb32-600i_synthetic-demo.py',
            tasks=('encoding',),
            gradcam_label='printed Eq. 6',
        ),
    ]
    if not guidance_ablations:
        pretrain = pretrain[:2]
    if table3:
        pretrain.append(
            Initialisation(
                'learned positional embedding',
                'learned-pos-embed',
                demo + 'brainformer_convnext-mini_learned-pos-embed_1xb32-600i_synthetic-demo.py',
                tasks=('encoding',),
            )
        )
    data_root = osp.abspath('data/synthetic_nsd')
    return PipelinePlan(
        work_dir=osp.abspath(work_dir),
        data_root=data_root,
        converted_dir=osp.join(data_root, 'mmbrain'),
        synthetic=True,
        seeds=list(seeds),
        world_seed=world_seed,
        pretrain=pretrain,
        tasks=_tasks(
            dict(
                det=demo + 'mask-rcnn_convnext-mini-{init}_fpn_1xb4-1500i_synthetic-coco-demo.py',
                seg=demo + 'upernet_convnext-mini-{init}_1xb8-300i_synthetic-ade-64x64-demo.py',
                encoding=demo + 'voxel-readout_convnext-mini-{init}_1xb32-4e_synthetic-nsd-subj08-demo.py',
            )
        ),
        report=report,
    )


def nsd_plan(
    nsd_root: str,
    gpus: int = 8,
    backbone: str = 'convnext-s',
    work_dir: str = 'work_dirs/nsd',
    seeds: Sequence[int] = (0,),
    report: Optional[str] = None,
) -> PipelinePlan:
    """The paper's job on the real NSD (Sec. 4): the paper configs, ``gpus`` processes per training command.

    Expects NSD in its native layout under ``nsd_root`` (docs/data.md), converted into ``nsd_root/mmbrain``, and
    COCO / ADE20K where the det/seg configs read them (``data/coco``, ``data/ade``), COCO's annotations without the
    NSD images (``coco_exclude_nsd.py``; README, step 5).
    """
    if backbone not in ('convnext-s', 'swin-s'):
        raise ValueError(f'nsd_plan: backbone must be convnext-s or swin-s, got {backbone!r}')
    nsd_root = osp.abspath(nsd_root)
    pretrain = [
        Initialisation(
            'Brainformer',
            'brainformer',
            f'configs/pretrain/brainformer_{backbone}_8xb64-coslr-100e_nsd.py',
            gradcam_label='Brainformer',
        ),
        Initialisation(
            'CLIP',
            'clip',
            f'configs/pretrain/clip_{backbone}_8xb64-coslr-100e_nsd.py',
            'clip-pre',
            gradcam_label='CLIP',
        ),
    ]
    return PipelinePlan(
        work_dir=osp.abspath(work_dir),
        data_root=nsd_root,
        converted_dir=osp.join(nsd_root, 'mmbrain'),
        synthetic=False,
        seeds=list(seeds),
        pretrain=pretrain,
        gpus=gpus,
        tasks=_tasks(
            dict(
                det=f'configs/det/mask-rcnn_{backbone}-{{init}}_fpn_8xb2-1x_coco.py',
                seg=f'configs/seg/upernet_{backbone}-{{init}}_8xb2-160k_ade20k-512x512.py',
                encoding=f'configs/encoding/voxel-readout_{backbone}-{{init}}_1xb64-20e_nsd-subj08.py',
            )
        ),
        report=report,
    )


def python_command(*args: str) -> List[str]:
    """``args`` run by this interpreter."""
    return [sys.executable, *args]


def _shipped(relpath: str) -> str:
    """A shipped config's or tool's absolute path; one not written yet keeps its would-be path (the runner reports
    it missing before anything runs)."""
    try:
        return package_path(relpath)
    except FileNotFoundError:
        return osp.join(osp.dirname(package_path('configs')), relpath)


def train_command(plan: PipelinePlan, tool: str = 'mmbrain') -> List:
    """The training command of a stage's generated config: ``tools/train.py`` (``dist_train.sh`` for several GPUs) or
    the library's own ``tools/train.py`` (``mmdet/.mim/tools/train.py``), under torchrun for several GPUs."""
    if tool == 'mmbrain':
        if plan.gpus > 1:
            return ['bash', _shipped('tools/dist_train.sh'), GeneratedConfig(), str(plan.gpus), '--work-dir', Out()]
        return python_command(_shipped('tools/train.py'), GeneratedConfig(), '--work-dir', Out())
    import importlib.util

    spec = importlib.util.find_spec(tool)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f'{tool} is not installed (needed for its own tools/train.py)')
    script = osp.join(list(spec.submodule_search_locations)[0], '.mim', 'tools', 'train.py')
    if plan.gpus > 1:
        return python_command(
            '-m',
            'torch.distributed.run',
            f'--nproc_per_node={plan.gpus}',
            script,
            GeneratedConfig(),
            '--launcher',
            'pytorch',
            '--work-dir',
            Out(),
        )
    return python_command(script, GeneratedConfig(), '--work-dir', Out())


def build_stages(plan: PipelinePlan) -> List[Stage]:
    """The declared stages of ``plan``, in order (every stage after the stages it reads)."""
    stages: List[Stage] = []
    world_inputs: List[str] = []
    if plan.synthetic:
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
        stages.append(
            Stage(
                'world',
                'generate the synthetic NSD world (native NSD layout, COCO and ADE versions); COCO train and '
                'val without the NSD images',
                [
                    python_command(
                        _shipped('tools/dataset_converters/make_synthetic_nsd.py'),
                        '--out',
                        Out(),
                        '--overwrite',
                        '--quiet',
                        '--seed',
                        str(plan.world_seed),
                    ),
                    exclude,
                ],
                root=osp.dirname(plan.data_root),
                folder=osp.basename(plan.data_root),
                seed=plan.world_seed,
            )
        )
        world_inputs = ['world']
    stages.append(
        Stage(
            'convert',
            'convert the NSD files with tools/dataset_converters/nsd_to_mmbrain.py',
            [
                python_command(
                    _shipped('tools/dataset_converters/nsd_to_mmbrain.py'),
                    '--nsd-root',
                    plan.data_root,
                    '--out',
                    Out(),
                    '--overwrite',
                    '--quiet',
                )
            ],
            root=osp.dirname(plan.converted_dir),
            folder=osp.basename(plan.converted_dir),
            inputs=world_inputs,
        )
    )
    data_inputs = world_inputs + ['convert']
    for task in plan.tasks:
        if task.majority_class:
            stages.append(
                Stage(
                    majority_class_stage(task),
                    f'{task.name}: score the majority-class prediction (the trivial baseline)',
                    [
                        python_command(
                            _shipped('tools/analysis_tools/majority_class_baseline.py'),
                            GeneratedConfig(),
                            '--out',
                            Out(MAJORITY_CLASS_FILE),
                        )
                    ],
                    root=plan.work_dir,
                    inputs=data_inputs,
                    config=StageConfig(_shipped(task.config_for(None)), {}),
                )
            )

    for seed in plan.seeds:
        root = plan.seed_dir(seed)
        seeded = {'randomness.seed': seed}
        for init in plan.pretrain:
            name = stage_name(seed, 'pretrain', init.key)
            stages.append(
                Stage(
                    name,
                    f'pretrain {init.label} ({init.config}), seed {seed}',
                    [train_command(plan)],
                    root=root,
                    inputs=data_inputs,
                    seed=seed,
                    config=StageConfig(_shipped(init.config), dict(seeded)),
                )
            )
            stages.append(
                Stage(
                    stage_name(seed, 'backbone', init.key),
                    f'extract the image backbone of {init.label}, seed {seed}',
                    [
                        python_command(
                            _shipped('tools/model_converters/brainformer_to_backbone.py'),
                            Checkpoint(name),
                            Out(BACKBONE_FILE),
                        )
                    ],
                    root=root,
                    inputs=[name],
                )
            )

        for task in plan.tasks:
            for init in plan.inits_of(task):
                overrides = dict(seeded)
                inputs = list(data_inputs)
                if init is not None:
                    backbone = stage_name(seed, 'backbone', init.key)
                    inputs.append(backbone)
                    overrides[task.checkpoint_key] = osp.join(root, f'backbone_{init.key}', BACKBONE_FILE)
                label = RANDOM_INIT if init is None else init.label
                commands = [train_command(plan, task.train_tool)]
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
                stages.append(
                    Stage(
                        stage_name(seed, task.name, init_key(init)),
                        f'{task.name} from {label} ({osp.basename(config.file)}), seed {seed}',
                        commands,
                        root=root,
                        inputs=inputs,
                        seed=seed,
                        config=config,
                    )
                )
                if task.ridge:  # the field's baseline on the same frozen backbone, fitted and scored by himalaya
                    checkpoint = [] if init is None else ['--checkpoint', overrides[task.checkpoint_key]]
                    ridge_overrides = {k: v for k, v in overrides.items() if not k.startswith('test_evaluator')}
                    stages.append(
                        Stage(
                            stage_name(seed, 'ridge', init_key(init)),
                            f'ridge baseline on the frozen backbone of {label}, seed {seed}',
                            [
                                python_command(
                                    _shipped('tools/analysis_tools/fit_ridge_encoding.py'),
                                    GeneratedConfig(),
                                    *checkpoint,
                                    '--seed',
                                    str(seed),
                                    '--out',
                                    Out(RIDGE_FILE),
                                )
                            ],
                            root=root,
                            inputs=inputs,
                            seed=seed,
                            config=StageConfig(_shipped(task.config_for(init)), ridge_overrides),
                        )
                    )

    if plan.gradcam:
        seed = plan.seeds[0]
        rows = python_command(
            _shipped('tools/analysis_tools/visualize_gradcam.py'), '--model', RANDOM_INIT, _shipped(plan.main.config)
        )
        inputs = []
        shown = [init for init in plan.pretrain if init.gradcam_label]
        for init in shown[1:] + shown[:1]:  # random init / CLIP / ablations / the chosen variant last (Fig. 6)
            pretrain = stage_name(seed, 'pretrain', init.key)
            rows += ['--model', init.gradcam_label, _shipped(init.config), Checkpoint(pretrain)]
            inputs.append(pretrain)
        rows += [
            '--num-images',
            '6',
            '--target-layer',
            'backbone.stages.2',
            '--seed',
            str(seed),
            '--out',
            Out(GRADCAM_FILE),
        ]
        stages.append(
            Stage(
                stage_name(seed, 'gradcam'),
                'Grad-CAM figure (paper Fig. 6)',
                [rows],
                root=plan.seed_dir(seed),
                inputs=data_inputs + inputs,
                seed=seed,
            )
        )
    return stages

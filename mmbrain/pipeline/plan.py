# Copyright (c) mmbrain contributors. All rights reserved.
"""The end-to-end Brainformer job: data -> pretraining -> backbone -> downstream tasks -> report.

Each stage runs the same command a user would type (``tools/train.py``, the converters, ...) in a subprocess, inside
:class:`~mmbrain.pipeline.stages.StageRunner`, so a second run reuses finished stages and an interrupted one leaves
nothing half-written behind. ``tools/run_pipeline.py`` is the command line; :class:`PipelinePlan` says which configs
run; :func:`build_stages` turns a plan into stages.
"""
import glob
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .stages import Stage, run_command

__all__ = ['DownstreamTask', 'PipelinePlan', 'synthetic_plan', 'nsd_plan', 'build_stages', 'final_checkpoint']

#: Per-voxel results an encoding run leaves in its folder (``BrainEncodingMetric(voxelwise_file=...)``).
VOXELWISE_FILE = 'voxelwise.npz'
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@dataclass
class DownstreamTask:
    """One downstream task, fine-tuned from the Brainformer backbone and from random init with the same budget.

    Attributes:
        name: Short name (``det``, ``seg``, ``encoding``), used for stage folders.
        title: Name in the report.
        pretrained_config: Config whose backbone loads ``init_cfg.checkpoint``.
        random_config: The same model and schedule from random init.
        metrics: Validation keys reported, ``{log key: label}``; the first is the headline.
        checkpoint_key: ``--cfg-options`` key that takes the extracted backbone file.
        train_tool: ``'mmbrain'`` (tools/train.py) or the installed library whose own ``tools/train.py`` runs it.
    """
    name: str
    title: str
    pretrained_config: str
    random_config: str
    metrics: Dict[str, str]
    checkpoint_key: str = 'model.backbone.init_cfg.checkpoint'
    train_tool: str = 'mmbrain'


@dataclass
class PipelinePlan:
    """What the job runs.

    Attributes:
        work_dir: Where runs, figures and the report go.
        data_root: Native NSD layout (the synthetic world is generated here when ``synthetic``).
        converted_dir: Converted ``subjXX.h5`` files.
        synthetic: Generate the synthetic world first.
        pretrain_config: The Brainformer pretraining config.
        ablations: ``{label: config}`` pretrained as well and evaluated on the encoding task (Table 3).
        tasks: Downstream tasks.
        cfg_options: ``--cfg-options`` given to every training command (data paths, seed).
        world_args: Extra arguments of ``make_synthetic_nsd.py``.
        gpus: Processes per training command (``tools/dist_train.sh`` when more than 1).
        report: Path of the Markdown report.
    """
    work_dir: str
    data_root: str
    converted_dir: str
    synthetic: bool
    pretrain_config: str
    ablations: Dict[str, str] = field(default_factory=dict)
    tasks: List[DownstreamTask] = field(default_factory=list)
    cfg_options: List[str] = field(default_factory=list)
    world_args: List[str] = field(default_factory=list)
    gpus: int = 1
    report: Optional[str] = None

    @property
    def report_file(self) -> str:
        return self.report or osp.join(self.work_dir, 'report.md')


def synthetic_plan(work_dir: str = 'work_dirs/demo', seed: int = 0, report: Optional[str] = None) -> PipelinePlan:
    """The default job: everything on the synthetic NSD world at 2-core-CPU scale (about 20 minutes).

    The world is generated in ``data/synthetic_nsd``, the path the ``*synthetic*`` configs read.
    """
    data_root = 'data/synthetic_nsd'
    converted = osp.join(data_root, 'mmbrain')
    demo = 'configs/demo/'
    return PipelinePlan(
        work_dir=work_dir,
        data_root=data_root,
        converted_dir=converted,
        synthetic=True,
        pretrain_config=demo + 'brainformer_convnext-mini_1xb32-600i_synthetic-demo.py',
        ablations={
            'w/o guidance loss': demo + 'brainformer_convnext-mini_wo-bfg_1xb32-600i_synthetic-demo.py',
            'positional embedding': demo + 'brainformer_convnext-mini_learned-pos-embed_1xb32-600i_synthetic-demo.py',
        },
        tasks=[
            DownstreamTask(
                name='det',
                title='Detection and instance segmentation (Mask R-CNN, synthetic COCO without the NSD images)',
                pretrained_config=demo + 'mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-500i_synthetic-coco-demo.py',
                random_config=demo + 'mask-rcnn_convnext-mini-rand-init_fpn_1xb4-500i_synthetic-coco-demo.py',
                metrics={'coco/bbox_mAP': 'AP box', 'coco/bbox_mAP_50': 'AP50 box', 'coco/segm_mAP': 'AP mask'},
                train_tool='mmdet'),
            DownstreamTask(
                name='seg',
                title='Semantic segmentation (UperNet, synthetic ADE)',
                pretrained_config=demo + 'upernet_convnext-mini-brainformer-pre_1xb8-300i_synthetic-ade-64x64-demo.py',
                random_config=demo + 'upernet_convnext-mini-rand-init_1xb8-300i_synthetic-ade-64x64-demo.py',
                metrics={'mIoU': 'mIoU', 'aAcc': 'aAcc'},
                train_tool='mmseg'),
            DownstreamTask(
                name='encoding',
                title='Brain response prediction (held-out subject 8)',
                pretrained_config=demo + 'voxel-readout_convnext-mini-brainformer-pre_1xb32-4e_synthetic-nsd-subj08-'
                'demo.py',
                random_config=demo + 'voxel-readout_convnext-mini-rand-init_1xb32-4e_synthetic-nsd-subj08-demo.py',
                metrics={'nsd/pearson_mean': 'PCC (mean r)', 'nsd/pearson_median': 'median r',
                         'nsd/algonauts_score': 'Algonauts score'}),
        ],
        cfg_options=[f'randomness.seed={seed}'],
        world_args=['--seed', str(seed)],
        report=report)


def nsd_plan(nsd_root: str, gpus: int = 8, backbone: str = 'convnext-s', work_dir: str = 'work_dirs/nsd',
             seed: int = 0, report: Optional[str] = None) -> PipelinePlan:
    """The paper's job on the real NSD (Sec. 4): the paper configs, ``gpus`` processes per training command.

    Expects NSD in its native layout under ``nsd_root`` (docs/data.md), converted into ``nsd_root/mmbrain``, and
    COCO / ADE20K where the det/seg configs read them (``data/coco``, ``data/ade``), COCO's train annotations
    without the NSD images (``coco_exclude_nsd.py``; README, step 5).
    """
    if backbone not in ('convnext-s', 'swin-s'):
        raise ValueError(f'nsd_plan: backbone must be convnext-s or swin-s, got {backbone!r}')
    seg_bb = 'convnext-s' if backbone == 'convnext-s' else 'swin-s'
    return PipelinePlan(
        work_dir=work_dir,
        data_root=nsd_root,
        converted_dir=osp.join(nsd_root, 'mmbrain'),
        synthetic=False,
        pretrain_config=f'configs/pretrain/brainformer_{backbone}_8xb64-coslr-100e_nsd.py',
        tasks=[
            DownstreamTask(
                name='det', title='COCO detection and instance segmentation (Mask R-CNN FPN 1x)',
                pretrained_config=f'configs/det/mask-rcnn_{backbone}-brainformer-pre_fpn_8xb2-1x_coco.py',
                random_config=f'configs/det/mask-rcnn_{backbone}-rand-init_fpn_8xb2-1x_coco.py',
                metrics={'coco/bbox_mAP': 'AP box', 'coco/bbox_mAP_50': 'AP50 box', 'coco/segm_mAP': 'AP mask'}),
            DownstreamTask(
                name='seg', title='ADE20K semantic segmentation (UperNet 160k)',
                pretrained_config=f'configs/seg/upernet_{seg_bb}-brainformer-pre_8xb2-160k_ade20k-512x512.py',
                random_config=f'configs/seg/upernet_{seg_bb}-rand-init_8xb2-160k_ade20k-512x512.py',
                metrics={'mIoU': 'mIoU', 'aAcc': 'aAcc'}),
            DownstreamTask(
                name='encoding', title='NSD brain response prediction (held-out subject 8)',
                pretrained_config=f'configs/encoding/voxel-readout_{backbone}-brainformer-pre_1xb64-20e_nsd-subj08.py',
                random_config=f'configs/encoding/voxel-readout_{backbone}-rand-init_1xb64-20e_nsd-subj08.py',
                metrics={'nsd/pearson_mean': 'PCC (mean r)', 'nsd/pearson_median': 'median r',
                         'nsd/algonauts_score': 'Algonauts score'}),
        ],
        cfg_options=[f'randomness.seed={seed}'],
        gpus=gpus,
        report=report)


def final_checkpoint(run_dir: str) -> str:
    """The checkpoint a finished mmengine run left: ``best_*.pth`` if it kept one, else the latest."""
    best = sorted(glob.glob(osp.join(run_dir, 'best_*.pth')))
    if best:
        return best[-1]
    ckpts = glob.glob(osp.join(run_dir, 'epoch_*.pth')) + glob.glob(osp.join(run_dir, 'iter_*.pth'))
    if not ckpts:
        raise FileNotFoundError(f'{run_dir}: no checkpoint found')
    return max(ckpts, key=lambda p: int(osp.splitext(osp.basename(p))[0].split('_')[-1]))


def python_command(*args: str) -> List[str]:
    """``args`` run by this interpreter."""
    return [sys.executable, *args]


def _train_command(plan: PipelinePlan, config: str, work_dir: str, tool: str = 'mmbrain',
                   extra_options: Optional[List[str]] = None) -> List[str]:
    options = list(extra_options or [])
    if tool == 'mmbrain':
        if plan.gpus > 1:
            cmd = ['bash', osp.join(REPO_ROOT, 'tools/dist_train.sh'), config, str(plan.gpus)]
        else:
            cmd = python_command(osp.join(REPO_ROOT, 'tools/train.py'), config)
        options = plan.cfg_options + options
    else:  # the library's own training tool, shipped inside its package (mmdet/.mim/tools/train.py)
        import importlib
        package = importlib.import_module(tool)
        cmd = python_command(osp.join(osp.dirname(package.__file__), '.mim', 'tools', 'train.py'), config)
        options = [f'randomness.seed={_seed(plan)}'] + options
    cmd += ['--work-dir', work_dir]
    if options:
        cmd += ['--cfg-options', *options]
    return cmd


def _seed(plan: PipelinePlan) -> str:
    for option in plan.cfg_options:
        if option.startswith('randomness.seed='):
            return option.split('=', 1)[1]
    return '0'


def build_stages(plan: PipelinePlan) -> List[Stage]:
    """The stages of ``plan``, in order. Later stages find earlier outputs at their final paths."""
    work = plan.work_dir
    stages: List[Stage] = []

    def log_of(out_dir: str) -> str:
        return osp.join(out_dir, 'stage.log')

    if plan.synthetic:
        def make_world(out_dir: str) -> None:
            run_command(python_command(osp.join(REPO_ROOT, 'tools/dataset_converters/make_synthetic_nsd.py'), '--out',
                                out_dir, '--overwrite', '--quiet', *plan.world_args), log_of(out_dir))
            # As the paper does for COCO: train detection without the images NSD showed.
            annotations = osp.join(out_dir, 'coco', 'annotations')
            run_command(python_command(osp.join(REPO_ROOT, 'tools/dataset_converters/coco_exclude_nsd.py'),
                                osp.join(annotations, 'instances_train2017.json'),
                                osp.join(out_dir, 'nsddata/experiments/nsd/nsd_stim_info_merged.csv'),
                                osp.join(annotations, 'instances_train2017_nsd-excluded.json')), log_of(out_dir))

        stages.append(Stage(osp.basename(plan.data_root), 'generate the synthetic NSD world (native NSD layout, '
                            'COCO and ADE versions) and remove the NSD images from its COCO train split',
                            make_world, root=osp.dirname(plan.data_root) or '.'))

    def convert(out_dir: str) -> None:
        run_command(python_command(osp.join(REPO_ROOT, 'tools/dataset_converters/nsd_to_mmbrain.py'), '--nsd-root',
                            plan.data_root, '--out', out_dir, '--overwrite', '--quiet'), log_of(out_dir))

    stages.append(Stage(osp.basename(plan.converted_dir), 'convert NSD files with tools/dataset_converters/'
                        'nsd_to_mmbrain.py', convert, root=osp.dirname(plan.converted_dir)))

    pretrain_runs = {'Brainformer': plan.pretrain_config, **plan.ablations}
    pretrain_dirs = {}
    for label, config in pretrain_runs.items():
        name = 'pretrain_' + slug(label)
        pretrain_dirs[label] = osp.join(work, name)

        def pretrain(out_dir: str, config: str = config) -> None:
            run_command(_train_command(plan, config, out_dir), log_of(out_dir))

        stages.append(Stage(name, f'pretrain {label} ({config})', pretrain))

    def extract(out_dir: str) -> None:
        for label, run_dir in pretrain_dirs.items():
            run_command(python_command(osp.join(REPO_ROOT, 'tools/model_converters/brainformer_to_backbone.py'),
                                final_checkpoint(run_dir), osp.join(out_dir, slug(label) + '.pth')),
                        log_of(out_dir))

    stages.append(Stage('backbones', 'extract the image backbones (tools/model_converters/brainformer_to_backbone.py)',
                        extract))
    backbone_dir = osp.join(work, 'backbones')

    for task in plan.tasks:
        runs = {'random init': (task.random_config, None), 'Brainformer': (task.pretrained_config, 'Brainformer')}
        if task.name == 'encoding':
            runs.update({label: (task.pretrained_config, label) for label in plan.ablations})
        for label, (config, backbone) in runs.items():
            name = f'{task.name}_{slug(label)}'

            def finetune(out_dir: str, config: str = config, backbone: Optional[str] = backbone,
                         task: DownstreamTask = task) -> None:
                options = []
                if task.name == 'encoding':  # per-voxel results for the ROI bars and the brain map of the report
                    options.append(f'val_evaluator.voxelwise_file={osp.join(out_dir, VOXELWISE_FILE)}')
                if backbone is not None:
                    options.append(f'{task.checkpoint_key}={osp.join(backbone_dir, slug(backbone) + ".pth")}')
                run_command(_train_command(plan, config, out_dir, task.train_tool, options), log_of(out_dir))

            stages.append(Stage(name, f'{task.title}: {label}', finetune))
    return stages


def slug(label: str) -> str:
    """A folder-name form of a run label."""
    return ''.join(c if c.isalnum() else '-' for c in label.lower()).strip('-').replace('--', '-')

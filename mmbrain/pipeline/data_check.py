# Copyright (c) mmbrain contributors. All rights reserved.
"""Real data checked before any stage runs: what the stages' configs read that is not on disk.

Hours of pretraining must never end at a missing COCO or ADE20K file: :func:`missing_data` loads every stage's
config as mmengine does and lists the files and folders its dataloaders and evaluators read (data roots, annotation
files, image and map folders, NSD stimuli, caption and stimulus-info files) that no stage of the plan writes; a
conversion made beforehand is opened with the converted-file reader.
"""

import os.path as osp
from typing import Any, Dict, List, Sequence

from mmbrain.utils.paths import package_path

from .plan import CONVERT, WORLD, PipelinePlan
from .stages import Checkpoint, GeneratedConfig, Out, Stage, StageConfig

__all__ = ['missing_data']


def _dataset_files(dataset: Any) -> List[str]:
    """The files and folders a dataset config reads: its data root, annotation file, image / map folders and stimuli,
    and the caption and stimulus-info files of its pipeline (wrapped datasets included)."""
    if isinstance(dataset, (list, tuple)):
        return [path for d in dataset for path in _dataset_files(d)]
    if not isinstance(dataset, dict):
        return []
    files = _dataset_files(dataset.get('dataset')) + _dataset_files(dataset.get('datasets'))
    root = dataset.get('data_root') or ''
    if root:
        files.append(root)
    if dataset.get('ann_file'):
        files.append(osp.join(root, dataset['ann_file']))
    prefix = dataset.get('data_prefix') or {}
    files += [osp.join(root, value) for value in (prefix.values() if isinstance(prefix, dict) else [prefix]) if value]
    if dataset.get('stimuli_file'):
        files.append(dataset['stimuli_file'])
    for transform in dataset.get('pipeline') or []:
        if isinstance(transform, dict):
            files += list(transform.get('caption_files') or []) + (
                [transform['stim_info']] if 'stim_info' in transform else []
            )
    return files


def _config_files(config: StageConfig) -> List[str]:
    """What a stage's config reads from disk (its dataloaders' datasets and evaluators' annotation files)."""
    from mmengine.config import Config

    cfg = Config.fromfile(config.file, import_custom_modules=False)
    plain = {k: v for k, v in config.overrides.items() if not isinstance(v, (Out, Checkpoint, GeneratedConfig))}
    if plain:
        cfg.merge_from_dict(plain)
    files = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        files += _dataset_files((cfg.get(loader) or {}).get('dataset'))
    for evaluator in ('val_evaluator', 'test_evaluator'):
        metrics = cfg.get(evaluator) or []
        for metric in metrics if isinstance(metrics, (list, tuple)) else [metrics]:
            if isinstance(metric, dict) and isinstance(metric.get('ann_file'), str):
                files.append(metric['ann_file'])
    return files


def missing_data(plan: PipelinePlan, stages: Sequence[Stage]) -> List[str]:
    """What the stages' configs read that is not on disk and that no stage of the plan writes, as
    ``'PATH (read by CONFIG)'``; also a hand-made conversion (``plan.convert`` False) that the converted-file reader
    refuses. Checked before any stage runs, so hours of pretraining never end at a missing COCO or ADE20K file.
    """
    produced = [stage.output_dir for stage in stages if stage.name in (WORLD, CONVERT)]
    missing: Dict[str, str] = {}
    checked = set()
    for stage in stages:
        if stage.config is None:
            continue
        data = {k: v for k, v in stage.config.overrides.items() if k in plan.data_overrides}
        if (stage.config.file, repr(sorted(data.items()))) in checked:
            continue  # the seed and the backbone file do not change what a config reads
        checked.add((stage.config.file, repr(sorted(data.items()))))
        for path in _config_files(StageConfig(stage.config.file, data)):
            full = osp.abspath(path)
            if any(full == p or full.startswith(p + osp.sep) for p in produced) or osp.exists(full):
                continue
            missing.setdefault(path, osp.relpath(stage.config.file, osp.dirname(package_path('configs'))))
    out = [f'{path} (read by {config})' for path, config in missing.items()]
    if not plan.convert:
        out += _unreadable_conversion(plan.converted_dir)
    return out


def _unreadable_conversion(folder: str) -> List[str]:
    """The problems of a conversion made beforehand, as the converted-file reader reports them."""
    import glob

    from mmbrain.datasets.converted_file import ConvertedFormatError, ConvertedSubject

    files = sorted(glob.glob(osp.join(glob.escape(folder), 'subj*.h5')))
    if not files:
        return [f'{folder}: no converted subjXX.h5 files (tools/dataset_converters/nsd_to_mmbrain.py writes them)']
    problems = []
    for path in files:
        try:
            ConvertedSubject(path)
        except (OSError, ConvertedFormatError) as err:
            problems.append(str(err))
    return problems

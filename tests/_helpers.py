# Copyright (c) mmbrain contributors. All rights reserved.
"""Helpers of the downstream tests."""

import importlib.util
import os.path as osp
from typing import Dict

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIGS = {
    'convnext': 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py',
    'swin': 'configs/pretrain/brainformer_swin-mini_1xb32-coslr-4e_synthetic.py',
}
#: The CLIP baseline's twin of the ConvNeXt config (the det / seg transfer tests load its backbone).
#: The smallest mmpretrain ConvNeXt the model tests build (one block per stage, 8-32 channels, pooled last stage).
TINY_CONVNEXT = dict(
    type='mmpretrain.ConvNeXt',
    arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32]),
    out_indices=(3,),
    gap_before_final_norm=True,
)
CLIP_PRETRAIN_CONFIGS = {'convnext': 'configs/pretrain/clip_convnext-mini_1xb32-coslr-4e_synthetic.py'}


def load_tool(relpath: str):
    """Import a script of ``tools/`` as a module (its functions, without running ``main``)."""
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(relpath))[0], osp.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def world_data_options(nsd_world, prefix: str) -> Dict[str, object]:
    """Config overrides pointing an ``NSDDataset`` dataloader at the tiny world, single process."""
    return {
        f'{prefix}.dataset.data_root': nsd_world.converted_dir,
        f'{prefix}.dataset.stimuli_file': nsd_world.stimuli_file,
        f'{prefix}.num_workers': 0,
        f'{prefix}.persistent_workers': False,
    }


def caption_options(nsd_world, prefix: str, step: int = 1) -> Dict[str, object]:
    """Config overrides pointing the ``LoadNSDCaption`` (pipeline step ``step``) of a dataloader at the tiny world."""
    annotations = osp.join(nsd_world.coco_dir, 'annotations')
    return {
        f'{prefix}.dataset.pipeline.{step}.stim_info': osp.join(
            nsd_world.root, 'nsddata', 'experiments', 'nsd', 'nsd_stim_info_merged.csv'
        ),
        f'{prefix}.dataset.pipeline.{step}.caption_files': [
            osp.join(annotations, f'captions_{s}2017.json') for s in ('train', 'val')
        ],
    }

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


#: The smallest synthetic world (one subject, one session of 30 trials, 16 px images, a coarse grid, no COCO or ADE
#: extras, no progress bars); a test that builds its own world starts from it (:func:`world_args`).
SMALL_WORLD = dict(
    n_subjects=1,
    n_sessions=1,
    trials_per_session=30,
    image_size=16,
    volume_scale=0.1,
    n_coco_extra=0,
    n_ade=0,
    progress=False,
)


def world_args(**changes) -> Dict[str, object]:
    """Arguments of ``make_synthetic_nsd``: :data:`SMALL_WORLD` with ``changes``."""
    return dict(SMALL_WORLD, **changes)


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


def tiny_brainformer_encoder(roi_names, **changes) -> dict:
    """The smallest Brainformer fMRI encoder config (16-dim tokens, Conv1D k=8 s=4, windows w=8 s=4) over
    ``roi_names``, with ``changes``."""
    encoder = dict(
        type='BrainformerEncoder',
        roi_names=list(roi_names),
        embed_dims=16,
        num_heads=2,
        conv_kernel=8,
        conv_stride=4,
        window_size=8,
        window_stride=4,
    )
    return dict(encoder, **changes)


#: ROI groups and voxel counts of the tiny pretrainers of the Grad-CAM and sanity-check tests.
TINY_VOXELS = dict(v1=30, faces=12)


def tiny_pretrainer_cfg(**overrides) -> dict:
    """The config of :func:`tiny_pretrainer` (``overrides`` replace model arguments, e.g. ``guidance_loss=None``)."""
    encoder = dict(
        type='LinearFMRIEncoder', roi_names=list(TINY_VOXELS), num_voxels=TINY_VOXELS, embed_dims=16, num_heads=2
    )
    return dict(
        dict(type='BrainformerPretrainer', backbone=TINY_CONVNEXT, backbone_out_dims=32, fmri_encoder=encoder),
        **overrides,
    )


def tiny_pretrainer(seed: int = 0, **overrides):
    """A ``BrainformerPretrainer`` on :data:`TINY_CONVNEXT` with a linear fMRI encoder over :data:`TINY_VOXELS`,
    built with ``torch.manual_seed(seed)``."""
    import torch
    from mmengine.registry import init_default_scope

    from mmbrain.registry import MODELS

    init_default_scope('mmbrain')
    torch.manual_seed(seed)
    return MODELS.build(tiny_pretrainer_cfg(**overrides))


def tiny_brain_batch(batch: int = 3, size: int = 64, seed: int = 0) -> dict:
    """A ``brain_collate`` batch for :func:`tiny_pretrainer`: random uint8 images, fMRI and coordinates of one
    subject, no data samples."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return dict(
        inputs=dict(
            img=torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=gen),
            fmri={r: torch.randn(batch, n, generator=gen) for r, n in TINY_VOXELS.items()},
            fmri_mask={r: torch.ones(batch, n, dtype=torch.bool) for r, n in TINY_VOXELS.items()},
            xyz={r: torch.randn(1, n, 3, generator=gen) * 30 for r, n in TINY_VOXELS.items()},
            subject_index=torch.zeros(batch, dtype=torch.long),
        ),
        data_samples=None,
    )

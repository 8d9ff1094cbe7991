# Copyright (c) mmbrain contributors. All rights reserved.
"""A converted Brainformer (or CLIP baseline) backbone in mmdet's Mask R-CNN and mmseg's UperNet, trained for a few
iterations by mmdet's and mmseg's own ``tools/train.py`` (and mmbrain's) on the synthetic world's COCO / ADE data."""

import json
import os.path as osp
import re
import subprocess
import sys

import pandas as pd
import pytest
from _helpers import REPO

EXCLUDE_TOOL = osp.join(REPO, 'tools/dataset_converters/coco_exclude_nsd.py')


def _library_train_tool(package: str) -> str:
    """The training script an installed OpenMMLab package ships (``<package>/.mim/tools/train.py``)."""
    import importlib

    return osp.join(osp.dirname(importlib.import_module(package).__file__), '.mim', 'tools', 'train.py')


@pytest.fixture(scope='module')
def coco_without_nsd(nsd_world, tmp_path_factory):
    """The synthetic COCO train2017 annotations without NSD's images, written by the CLI; its stdout; and val2017
    without NSD's images (``--val``)."""
    folder = tmp_path_factory.mktemp('coco')
    out = str(folder / 'instances_train2017_nsd-excluded.json')
    val_out = str(folder / 'instances_val2017_nsd-excluded.json')
    result = subprocess.run(
        [
            sys.executable,
            EXCLUDE_TOOL,
            osp.join(nsd_world.coco_dir, 'annotations', 'instances_train2017.json'),
            osp.join(nsd_world.root, 'nsddata', 'experiments', 'nsd', 'nsd_stim_info_merged.csv'),
            out,
            '--val',
            osp.join(nsd_world.coco_dir, 'annotations', 'instances_val2017.json'),
            val_out,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return out, result.stdout, val_out


@pytest.mark.parametrize('split', ['train', 'val'])
@pytest.mark.slow
def test_coco_exclude_nsd_removes_exactly_the_nsd_images(split, nsd_world, coco_without_nsd):
    out, stdout, val_out = coco_without_nsd
    with open(osp.join(nsd_world.coco_dir, 'annotations', f'instances_{split}2017.json')) as f:
        before = json.load(f)
    with open(out if split == 'train' else val_out) as f:
        after = json.load(f)
    nsd_ids = set(
        pd.read_csv(osp.join(nsd_world.root, 'nsddata', 'experiments', 'nsd', 'nsd_stim_info_merged.csv'))['cocoId']
    )
    kept = {img['id'] for img in after['images']}
    expected = {img['id'] for img in before['images'] if img['id'] not in nsd_ids}
    assert kept == expected and 0 < len(kept) < len(before['images'])
    assert {a['id'] for a in after['annotations']} == {a['id'] for a in before['annotations'] if a['image_id'] in kept}
    assert after['categories'] == before['categories']
    removed = len(before['images']) - len(kept)
    assert f'removed {removed} of {len(before["images"])} images' in stdout


def _assert_backbone_loaded(log: str, checkpoint: str) -> None:
    """mmengine's PretrainedInit logs the load and, only on a mismatch, the missing / unexpected keys."""
    assert f'load backbone. in model from: {checkpoint}' in log
    for mismatch in ('do not match exactly', 'missing keys in source state_dict', 'unexpected key in source'):
        assert mismatch not in log, log[log.index(mismatch) - 200 : log.index(mismatch) + 2000]


def _assert_trained(log: str) -> None:
    losses = [float(v) for v in re.findall(r'\(train\).*?\s+loss: ([-\d.naife]+)', log)]
    assert losses and all(v == v and abs(v) < 1e4 for v in losses), 'no finite training loss logged'


def _run(cmd, work_dir):
    result = subprocess.run(cmd + ['--work-dir', str(work_dir)], capture_output=True, text=True, cwd=REPO, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


def _converted_backbone(request, init: str, backbone: str) -> str:
    """The converted backbone of a Brainformer or CLIP pretraining (session fixtures of conftest.py)."""
    return request.getfixturevalue('backbone_checkpoints' if init == 'brainformer' else 'clip_backbone_checkpoints')[
        backbone
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    'init, backbone, tool',
    [
        ('brainformer', 'convnext', 'mmdet'),
        ('brainformer', 'swin', 'mmdet'),
        ('brainformer', 'convnext', 'mmbrain'),
        ('clip', 'convnext', 'mmdet'),
    ],
)
def test_mask_rcnn_trains_from_converted_backbone(init, backbone, tool, nsd_world, coco_without_nsd, request, tmp_path):
    config = osp.join(REPO, f'configs/det/mask-rcnn_{backbone}-mini-{init}-pre_fpn_1xb4-6e_synthetic-coco.py')
    train = _library_train_tool('mmdet') if tool == 'mmdet' else osp.join(REPO, 'tools/train.py')
    coco = nsd_world.coco_dir + '/'
    checkpoint = _converted_backbone(request, init, backbone)
    log = _run(
        [
            sys.executable,
            train,
            config,
            '--cfg-options',
            f'model.backbone.init_cfg.checkpoint={checkpoint}',
            f'train_dataloader.dataset.data_root={coco}',
            f'train_dataloader.dataset.ann_file={coco_without_nsd[0]}',
            f'val_dataloader.dataset.data_root={coco}',
            f'val_evaluator.0.ann_file={coco}annotations/instances_val2017.json',
            f'val_evaluator.1.ann_file={coco_without_nsd[2]}',  # the whole (tiny) val2017: some images are not NSD's
            'train_dataloader.dataset.indices=4',
            'train_dataloader.batch_size=2',
            'train_cfg.max_epochs=1',
            'default_hooks.logger.interval=1',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False',
        ],
        tmp_path,
    )
    _assert_backbone_loaded(log, checkpoint)
    _assert_trained(log)
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log  # validated with mmdet's CocoMetric
    assert 'coco-wo-nsd/bbox_mAP' in log and 'coco-wo-nsd/segm_mAP_75' in log  # and on val2017 without NSD images


@pytest.mark.slow
@pytest.mark.parametrize('init, backbone', [('brainformer', 'convnext'), ('brainformer', 'swin'), ('clip', 'convnext')])
def test_upernet_trains_from_converted_backbone(init, backbone, nsd_world, request, tmp_path):
    config = osp.join(REPO, f'configs/seg/upernet_{backbone}-mini-{init}-pre_1xb8-2k_synthetic-ade-64x64.py')
    checkpoint = _converted_backbone(request, init, backbone)
    log = _run(
        [
            sys.executable,
            _library_train_tool('mmseg'),
            config,
            '--cfg-options',
            f'model.backbone.init_cfg.checkpoint={checkpoint}',
            f'train_dataloader.dataset.data_root={nsd_world.ade_dir}',
            f'val_dataloader.dataset.data_root={nsd_world.ade_dir}',
            'train_dataloader.batch_size=2',
            'val_dataloader.dataset.indices=2',
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=2',
            'default_hooks.logger.interval=1',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False',
        ],
        tmp_path,
    )
    _assert_backbone_loaded(log, checkpoint)
    _assert_trained(log)
    assert 'mIoU' in log  # validated with mmseg's IoUMetric

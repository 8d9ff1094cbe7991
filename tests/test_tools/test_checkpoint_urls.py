# Copyright (c) mmbrain contributors. All rights reserved.
"""Checkpoints by URL through the tools: a payload checkpoint served from 127.0.0.1 is refused before any of its
code runs (``load_from``, the test tool's checkpoint, and a backbone's ``init_cfg`` under mmdet's own
``tools/train.py``), a clean one loads and is scored. mmengine's own http loader unpickles with
``weights_only=False``: before mmbrain's safe loaders each of these runs created the payload's marker file."""

import os.path as osp

import pytest
import torch
from _checkpoint_server import save_payload, serve_folder
from _helpers import REPO

from mmbrain.utils import load_checkpoint_safely

from .test_checkpoint_guards import _config, _tool


@pytest.fixture(scope='module')
def served(brainformer_checkpoints, backbone_checkpoints, tmp_path_factory):
    """The ConvNeXt pretraining checkpoint (clean) and payload twins of it and of its backbone, over HTTP."""
    root = tmp_path_factory.mktemp('served')
    marker = root.parent / f'{root.name}-pwned'
    ckpt = load_checkpoint_safely(brainformer_checkpoints['convnext'])
    torch.save(ckpt, root / 'clean.pth')
    save_payload(root / 'evil.pth', ckpt['state_dict'], marker)
    save_payload(
        root / 'evil_backbone.pth', load_checkpoint_safely(backbone_checkpoints['convnext'])['state_dict'], marker
    )
    with serve_folder(root) as server:
        yield server, marker


def _torch_home(tmp_path):
    return dict(TORCH_HOME=str(tmp_path / 'torch_home'))  # the hub's download cache, per test


def _refused(result, url, marker):
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: {url} (downloaded to '), last
    assert 'cannot be loaded as a checkpoint with weights_only=True: ' in last and 'GLOBAL posix.system' in last
    assert not marker.exists(), 'the payload ran'


@pytest.mark.slow
def test_train_refuses_a_payload_load_from(nsd_world, served, tmp_path):
    server, marker = served
    url = server.url + 'evil.pth'
    config = _config(tmp_path, nsd_world, 'convnext')
    result = _tool(
        'tools/train.py',
        config,
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        f'load_from={url}',
        cwd=tmp_path,
        env=_torch_home(tmp_path),
    )
    _refused(result, url, marker)
    assert not (tmp_path / 'work' / 'epoch_1.pth').exists()


@pytest.mark.slow
def test_test_tool_refuses_a_payload_and_scores_a_clean_checkpoint(nsd_world, served, tmp_path):
    server, marker = served
    config = _config(tmp_path, nsd_world, 'convnext')
    evil = server.url + 'evil.pth'
    result = _tool(
        'tools/test.py', config, evil, '--work-dir', str(tmp_path / 'w1'), cwd=tmp_path, env=_torch_home(tmp_path)
    )
    _refused(result, evil, marker)
    out = tmp_path / 'metrics.json'
    result = _tool(
        'tools/test.py',
        config,
        server.url + 'clean.pth',
        '--work-dir',
        str(tmp_path / 'w2'),
        '--out',
        str(out),
        cwd=tmp_path,
        env=_torch_home(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.exists() and 'retrieval' in out.read_text().lower()


@pytest.mark.slow
def test_mmdet_train_tool_refuses_a_payload_backbone(nsd_world, served, tmp_path):
    """mmdet's own tools/train.py builds the config's runner_type, mmbrain.BrainRunner, which loads safely."""
    import importlib

    server, marker = served
    url = server.url + 'evil_backbone.pth'
    train = osp.join(osp.dirname(importlib.import_module('mmdet').__file__), '.mim', 'tools', 'train.py')
    coco = nsd_world.coco_dir + '/'
    val = f'{coco}annotations/instances_val2017.json'
    result = _tool(
        train,
        osp.join(REPO, 'configs/det/mask-rcnn_convnext-mini-brainformer-pre_fpn_1xb4-6e_synthetic-coco.py'),
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={url}',
        f'train_dataloader.dataset.data_root={coco}',
        'train_dataloader.dataset.ann_file=annotations/instances_train2017.json',
        f'val_dataloader.dataset.data_root={coco}',
        f'val_evaluator.0.ann_file={val}',
        f'val_evaluator.1.ann_file={val}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        cwd=tmp_path,
        env=_torch_home(tmp_path),
    )
    assert result.returncode != 0
    assert 'CheckpointError' in result.stderr and f'{url} (downloaded to ' in result.stderr, result.stderr[-3000:]
    assert not marker.exists(), 'the payload ran'

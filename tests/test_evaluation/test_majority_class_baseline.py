# Copyright (c) mmbrain contributors. All rights reserved.
"""The segmentation task's trivial baseline (``majority_class_baseline.py``) against the label maps counted by hand."""

import glob
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from _helpers import REPO
from PIL import Image

TOOL = osp.join(REPO, 'tools/analysis_tools/majority_class_baseline.py')
CONFIG = osp.join(REPO, 'configs/demo/upernet_convnext-mini-rand-init_1xb8-300i_synthetic-ade-64x64-demo.py')
IGNORE = 255


def _labels(folder: str) -> np.ndarray:
    """Every labelled pixel of the PNG label maps in ``folder``, with ADE's ``reduce_zero_label`` (0 is ignored)."""
    maps = [np.asarray(Image.open(path), dtype=np.int64) for path in sorted(glob.glob(osp.join(folder, '*.png')))]
    assert maps, f'no label maps in {folder}'
    labels = np.concatenate([m.ravel() for m in maps]) - 1
    return labels[labels >= 0]


@pytest.mark.parametrize('val_split', ['validation', 'training'])
@pytest.mark.slow
def test_majority_class_scores_match_the_label_maps(nsd_world, tmp_path, val_split):
    """On the tiny world the training split's majority class is absent from validation (every score 0); scored on
    the training maps themselves, it is present and every score is non-zero."""
    out = str(tmp_path / 'majority.json')
    result = subprocess.run(
        [
            sys.executable,
            TOOL,
            CONFIG,
            '--out',
            out,
            '--cfg-options',
            f'train_dataloader.dataset.data_root={nsd_world.ade_dir}',
            f'val_dataloader.dataset.data_root={nsd_world.ade_dir}',
            f'val_dataloader.dataset.data_prefix.img_path=images/{val_split}',
            f'val_dataloader.dataset.data_prefix.seg_map_path=annotations/{val_split}',
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    scores = json.load(open(out))

    train = _labels(osp.join(nsd_world.ade_dir, 'annotations', 'training'))
    val = _labels(osp.join(nsd_world.ade_dir, 'annotations', val_split))
    majority = np.bincount(train).argmax()
    present = np.unique(val)  # classes absent from the ground truth and the prediction are NaN, left out
    frequency = np.mean(val == majority)
    assert scores['majority_class_pixel_fraction'] == pytest.approx(np.mean(train == majority))
    assert scores['aAcc'] == pytest.approx(100 * frequency, abs=0.01)
    assert scores['mIoU'] == pytest.approx(100 * frequency / len(present), abs=0.01)
    assert scores['mAcc'] == pytest.approx(100 * (majority in present) / len(present), abs=0.01)
    assert scores['n_val_images'] == len(glob.glob(osp.join(nsd_world.ade_dir, 'annotations', val_split, '*.png')))
    assert (scores['mIoU'] > 0) == (val_split == 'training')


@pytest.mark.slow
def test_a_missing_dataset_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            TOOL,
            CONFIG,
            '--out',
            str(tmp_path / 'majority.json'),
            '--cfg-options',
            f'train_dataloader.dataset.data_root={tmp_path / "nowhere"}',
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and 'error:' in result.stderr and 'nowhere' in result.stderr
    assert not osp.exists(tmp_path / 'majority.json')

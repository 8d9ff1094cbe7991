# Copyright (c) mmbrain contributors. All rights reserved.
"""NaN or Inf in a converted subject file stops loading (and training) with the file, row and group named."""

import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from _helpers import PRETRAIN_CONFIGS, REPO

from mmbrain.datasets.nsd_files import ROI_GROUPS
from mmbrain.datasets.transforms import LoadNSDResponses


def _damaged_copy(nsd_world, tmp_path, subject=1, group='floc-faces', row=7, column=2, value=np.nan):
    """A copy of the world's converted folder with one non-finite beta written into it (as a foreign tool might)."""
    out = tmp_path / 'mmbrain'
    shutil.copytree(nsd_world.converted_dir, out)
    path = out / os.path.basename(nsd_world.converted_file(subject))
    with h5py.File(path, 'r+') as f:
        f[f'rois/{group}/betas'][row, column] = value
    return path


@pytest.mark.parametrize('value', [np.nan, np.inf, -np.inf])
def test_a_non_finite_row_is_refused_naming_file_row_and_group(nsd_world, tmp_path, value):
    path = _damaged_copy(nsd_world, tmp_path, value=value)
    load = LoadNSDResponses(groups=ROI_GROUPS)
    ok = load(dict(brain_file=str(path), row=6))
    assert all(np.isfinite(v).all() for v in ok['fmri'].values())
    with pytest.raises(
        ValueError,
        match=r'subj01.h5: row 7, ROI group floc-faces: 1 non-finite betas \(NaN/Inf, '
        r'first at voxel column 2\)',
    ):
        load(dict(brain_file=str(path), row=7))


@pytest.mark.slow
def test_training_on_a_nan_file_stops_with_exit_1(nsd_world, tmp_path):
    """End to end through tools/train.py: no NaN model, no checkpoint, the message names the file and row."""
    shared = h5py.File(nsd_world.converted_file(1), 'r')['shared1000'][:]
    row = int(np.flatnonzero(~shared)[3])  # a training row
    path = _damaged_copy(nsd_world, tmp_path, group='prf-visualrois', row=row, column=0)
    config = tmp_path / 'tiny.py'
    data = f'dict(data_root={str(path.parent)!r}, stimuli_file={nsd_world.stimuli_file!r}, subjects=[1])'
    config.write_text(
        f'_base_ = {os.path.join(REPO, PRETRAIN_CONFIGS["convnext"])!r}\n'
        f'train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, '
        f'dataset=dict(**{data}, indices=8))\n'
        'val_dataloader = val_cfg = val_evaluator = None\n'
        'train_cfg = dict(max_epochs=1, val_interval=1)\n'
    )
    work = tmp_path / 'work'
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools/train.py'), str(config), '--work-dir', str(work)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=600,
    )
    assert result.returncode == 1
    assert f'ValueError: {path}: row {row}, ROI group prf-visualrois: 1 non-finite betas' in result.stderr
    assert not list(work.glob('*.pth'))

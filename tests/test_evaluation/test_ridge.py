# Copyright (c) mmbrain contributors. All rights reserved.
"""The voxel-wise ridge baseline against the closed-form ridge solution and a brute-force cross-validation, and the
tool end to end on the synthetic world (features from the frozen backbone, CV on the training split, one test)."""

import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from _helpers import REPO

from mmbrain.evaluation.ridge import fit_ridge_cv, image_means, to_numpy

TOOL = osp.join(REPO, 'tools/analysis_tools/fit_ridge_encoding.py')
RAND_INIT = 'configs/encoding/voxel-readout_convnext-mini-rand-init_1xb32-20e_synthetic-nsd-subj08.py'


def _closed_form(x, y, alpha):
    """Ridge with an unpenalised intercept: centre on the training data, solve (X'X + aI) w = X'y."""
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return coef, y_mean - x_mean @ coef


def _data(rng, n=60, p=8, v=6):
    x = rng.standard_normal((n, p))
    w = rng.standard_normal((p, v)) * np.array([3, 1, 0.3, 0.1, 0.03, 0.0])  # voxels from signal to pure noise
    y = x @ w + rng.standard_normal((n, v)) + 2.0
    return x, y


def test_ridge_matches_the_closed_form_for_each_voxels_penalty():
    x, y = _data(np.random.default_rng(0))
    alphas = np.logspace(-2, 4, 7)
    model = fit_ridge_cv(x, y, alphas, n_folds=3)
    best = to_numpy(model.best_alphas_)
    x_test = np.random.default_rng(1).standard_normal((10, x.shape[1]))
    pred = to_numpy(model.predict(x_test))
    for v in range(y.shape[1]):
        coef, intercept = _closed_form(x, y[:, v : v + 1], best[v])
        np.testing.assert_allclose(to_numpy(model.coef_)[:, v], coef[:, 0], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(pred[:, v], x_test @ coef[:, 0] + intercept[0], rtol=1e-6, atol=1e-8)
    # strong signal -> a small penalty, pure noise -> a large one
    assert best[0] <= 1 and best[-1] >= 99  # (himalaya stores log-penalties: 100 comes back as 99.99...)


def test_penalties_are_those_a_brute_force_cross_validation_picks():
    x, y = _data(np.random.default_rng(2))
    alphas = np.logspace(-2, 4, 7)
    folds = np.array_split(np.arange(len(x)), 3)  # KFold(3), unshuffled
    loss = np.zeros((len(alphas), y.shape[1]))
    for held_out in folds:
        train = np.setdiff1d(np.arange(len(x)), held_out)
        for a, alpha in enumerate(alphas):
            coef, intercept = _closed_form(x[train], y[train], alpha)
            loss[a] += ((x[held_out] @ coef + intercept - y[held_out]) ** 2).mean(0)
    model = fit_ridge_cv(x, y, alphas, n_folds=3)
    np.testing.assert_allclose(to_numpy(model.best_alphas_), alphas[loss.argmin(0)], rtol=1e-9)


def test_image_means_and_bad_input():
    images, means = image_means(np.array([[1.0], [3.0], [5.0]]), np.array([7, 2, 7]))
    assert images.tolist() == [2, 7] and means[:, 0].tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match='training rows'):
        fit_ridge_cv(np.zeros((4, 2)), np.zeros((4, 1)), n_folds=5)


def _world_options(nsd_world, subject=3):
    subject_file = nsd_world.converted_file(subject)
    options = [f'model.head.num_voxels={subject_file}', f'test_evaluator.subject_file={subject_file}']
    for loader in ('train_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={nsd_world.converted_dir}',
            f'{loader}.dataset.subjects=[{subject}]',
            f'{loader}.dataset.stimuli_file={nsd_world.stimuli_file}',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
        ]
    return options


@pytest.mark.slow
def test_tool_fits_on_training_images_and_scores_the_test_split_once(nsd_world, tmp_path):
    from mmbrain.datasets import NSDDataset

    out = str(tmp_path / 'ridge.json')
    result = subprocess.run(
        [
            sys.executable,
            TOOL,
            osp.join(REPO, RAND_INIT),
            '--out',
            out,
            '--folds',
            '3',
            '--cfg-options',
            *_world_options(nsd_world),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out) as f:
        scores = json.load(f)
    for key in (
        'pearson_mean',
        'pearson_median',
        'algonauts_score',
        'algonauts_score_mean',
        'noise_ceiling_mean',
        'prf-visualrois/pearson_mean',
    ):
        assert np.isfinite(scores[f'ridge/{key}']), key
    # the training images exclude the validation images; the test images are the shared ones
    rows = {
        s: NSDDataset(
            nsd_world.converted_dir, subjects=[3], split=s, val_fraction=0.1, stimuli_file=nsd_world.stimuli_file
        )
        for s in ('train', 'test')
    }
    ids = {s: {d.get_data_info(i)['nsd_id'] for i in range(len(d))} for s, d in rows.items()}
    assert scores['ridge/n_train_images'] == len(ids['train'])
    assert scores['ridge/n_test_images'] == len(ids['test'])
    assert -2 <= scores['ridge/alpha_log10_median'] <= 7
    assert 'ridge/pearson_mean' in result.stdout


@pytest.mark.slow
def test_tool_usage_errors_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, TOOL, 'no_such_config.py', '--out', str(tmp_path / 'x.json')],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2 and 'no such config' in result.stderr
    result = subprocess.run([sys.executable, TOOL, '--help'], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0 and '--checkpoint' in result.stdout

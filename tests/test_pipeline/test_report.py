# Copyright (c) mmbrain contributors. All rights reserved.
"""The report reads what the runs left and shows every metric with its spread over seeds."""

import json
import os
import os.path as osp

import pytest

from mmbrain.pipeline import collect_results, synthetic_plan, write_report
from mmbrain.pipeline.plan import MAJORITY_CLASS_FILE, RIDGE_FILE, TEST_METRICS_FILE
from mmbrain.pipeline.report import ridge_metrics

BOX = {'random-init': [0.10, 0.12, 0.11], 'clip': [0.13, 0.10, 0.16], 'brainformer': [0.15, 0.16, 0.17]}
PCC = {
    'random-init': [0.05, 0.06, 0.04],
    'clip': [0.20, 0.22, 0.21],
    'brainformer': [0.25, 0.24, 0.26],
    'wo-bfg': [0.22, 0.23, 0.21],
    'bfg-printed': [0.23, 0.22, 0.24],
}


def _scalars(run_dir: str, metrics: dict, step: int = 100) -> None:
    folder = osp.join(run_dir, '20260101_000000', 'vis_data')
    os.makedirs(folder)
    with open(osp.join(folder, 'scalars.json'), 'w') as f:
        f.write(json.dumps({'loss': 1.0, 'iter': step, 'step': step}) + '\n')
        f.write(json.dumps(dict(metrics, step=step)) + '\n')


def _json(path: str, metrics: dict) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(metrics, f)


def _fake_runs(plan) -> None:
    _json(osp.join(plan.work_dir, 'seg_majority-class', MAJORITY_CLASS_FILE), {'mIoU': 1.96, 'aAcc': 25.43})
    for i, seed in enumerate(plan.seeds):
        root = plan.seed_dir(seed)
        for init in ('brainformer', 'wo-bfg', 'bfg-printed'):
            _scalars(
                osp.join(root, f'pretrain_{init}'),
                {
                    'retrieval/img2brain_top1': 10.0 + i,
                    'retrieval/brain2img_top1': 9.0,
                    'retrieval/img2brain_chance_top1': 1.25,
                    'retrieval/subj01/img2brain_top1': 11.0 + i,
                    'retrieval/subj01/brain2img_top1': 8.0,
                    'retrieval/subj01/img2brain_chance_top1': 2.5,
                },
            )
        _scalars(osp.join(root, 'pretrain_clip'), {'retrieval/img2text_top1': 30.0})
        for init, values in BOX.items():
            _scalars(osp.join(root, f'det_{init}'), {'coco/bbox_mAP': values[i], 'coco-wo-nsd/bbox_mAP': values[i]})
            _scalars(osp.join(root, f'seg_{init}'), {'mIoU': 40.0 + i, 'aAcc': 80.0})
        for init, values in PCC.items():
            _json(
                osp.join(root, f'encoding_{init}', TEST_METRICS_FILE),
                {
                    'nsd/pearson_mean': values[i],
                    'nsd/algonauts_score': 10 * values[i],
                    'nsd/floc-faces/pearson_mean': values[i] + 0.1,
                },
            )
            _json(osp.join(root, f'ridge_{init}', RIDGE_FILE), {'ridge/nsd/pearson_mean': values[i] / 2})


@pytest.fixture
def report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def make(seeds):
        plan = synthetic_plan(seeds=seeds)
        _fake_runs(plan)
        timings = {'world': 30.0, **{f'seed{s}/pretrain_brainformer': 100.0 for s in seeds}}
        path = osp.join(plan.work_dir, 'report.md')
        write_report(collect_results(plan, timings), {}, path, command=['python', 'tools/run_pipeline.py'])
        with open(path) as f:
            return f.read()

    return make


def test_cells_are_mean_and_sd_over_seeds(report):
    text = report([0, 1, 2])
    assert 'mean ± sd over 3 seeds (0, 1, 2)' in text
    assert '| random init | 0.110 ± 0.010 |' in text  # box AP of random init
    assert '| Brainformer | 0.160 ± 0.010 |' in text
    assert '| Brainformer | brain | 11.000 ± 1.000 | - | 9.000 ± 0.000 | - | 1.250 ± 0.000 |' in text  # retrieval
    assert '| CLIP | text | 30.000 ± 0.000 | - | - |' in text
    assert '| Brainformer | 12.000 ± 1.000 / 8.000 ± 0.000 / 2.500 ± 0.000 |' in text  # retrieval, subject 1
    assert '| ridge baseline: Brainformer | 0.125 ± 0.005 |' in text
    assert '| random init | 0.150 ± 0.010 |' in text  # PCC per ROI group
    for key in (
        'box AP',
        'mask AP75',
        'box AP50 w/o NSD',
        'mIoU',
        'mAcc',
        'aAcc',
        'PCC (mean r)',
        'Algonauts score (median)',
        'Algonauts score (mean)',
        'floc-faces',
    ):
        assert key in text, key
    assert '| seed 0 total | 100 |' in text and '| total | 330 |' in text


def test_segmentation_shows_its_majority_class_baseline(report):
    text = report([0, 1, 2])
    assert '| majority class (trivial baseline) | 1.960 | - | 25.430 |' in text
    assert 'the majority class everywhere' in text and 'scores mIoU 1.960; random init reaches 41.000' in text


def test_paired_differences_and_the_verdict(report):
    text = report([0, 1, 2])
    # Brainformer - random init on box AP: 0.05, 0.04, 0.06 -> mean 0.05, t(2) interval excludes 0
    assert '| Brainformer - random init | +0.050 [+0.025, +0.075] |' in text
    assert (
        'Brainformer - random init on box AP: +0.050, 95% interval [+0.025, +0.075] over 3 seeds: larger than '
        'the seed spread'
    ) in text
    assert (
        'Brainformer - CLIP on box AP: +0.030, 95% interval [-0.036, +0.096] over 3 seeds: within the seed '
        'spread' in text
    )
    assert '| Brainformer - w/o guidance loss | +0.030 [' in text  # Table 3, on the encoding task
    assert '| Brainformer - printed Eq. 6 | +0.000 [+0.000, +0.000] | - |' in text  # and on retrieval


def test_one_seed_cannot_tell(report):
    text = report([0])
    assert 'One seed (0)' in text
    assert '| Brainformer - random init | +0.050 (1 seed, no interval) |' in text
    assert 'one seed has no spread, so this report cannot tell' in text
    assert '±' not in text.split('## Downstream')[1].split('## Time')[0]


def test_ridge_keys_take_the_encoding_names(tmp_path):
    path = str(tmp_path / 'ridge.json')
    _json(path, {'ridge/nsd/pearson_mean': 0.2, 'ridge/algonauts_score': 3.0, 'n_voxels': 10, 'ok': True})
    assert ridge_metrics(path) == {'nsd/pearson_mean': 0.2, 'nsd/algonauts_score': 3.0, 'nsd/n_voxels': 10.0}


def test_figures_of_the_first_seed(tmp_path, monkeypatch):
    import numpy as np

    from mmbrain.pipeline import write_figures

    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan(seeds=[3])
    _fake_runs(plan)
    rng = np.random.default_rng(0)
    for init in ('random-init', 'brainformer'):
        np.savez(
            osp.join(plan.seed_dir(3), f'encoding_{init}', 'voxelwise.npz'),
            **{
                'floc-faces/r': rng.normal(0.2, 0.1, 30),
                'floc-faces/noise_ceiling': np.full(30, 40.0),
                'floc-faces/xyz': 1.8 * np.stack(np.unravel_index(np.arange(30), (5, 3, 2)), 1),
            },
        )
    gradcam = osp.join(plan.seed_dir(3), 'gradcam', 'gradcam.png')
    _json(gradcam, {})
    figures = write_figures(collect_results(plan, {}), str(tmp_path / 'figures'))
    assert set(figures) == {
        'pretraining curves',
        'per-ROI correlation',
        'brain map',
        'ablation',
        'Grad-CAM (paper Fig. 6)',
    }
    copied = figures['Grad-CAM (paper Fig. 6)']  # beside the other figures, so a report's figures are one folder
    assert copied == str(tmp_path / 'figures' / 'gradcam.png') and open(copied).read() == open(gradcam).read()
    assert all(osp.getsize(path) > 0 for path in figures.values())


def test_the_commit_named_says_when_the_tree_differs_from_it(tmp_path):
    import subprocess

    from mmbrain.pipeline.report import git_commit

    assert git_commit(str(tmp_path)) == 'unknown'  # not a checkout
    git = ['git', '-C', str(tmp_path), '-c', 'user.name=t', '-c', 'user.email=t@t']
    subprocess.run(git + ['init', '-q'], check=True)
    (tmp_path / 'a.py').write_text('x = 1\n')
    subprocess.run(git + ['add', 'a.py'], check=True)
    subprocess.run(git + ['commit', '-qm', 'a'], check=True)
    head = subprocess.run(git + ['rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    assert git_commit(str(tmp_path)) == head
    (tmp_path / 'a.py').write_text('x = 2\n')
    assert git_commit(str(tmp_path)) == f'{head} with uncommitted changes'

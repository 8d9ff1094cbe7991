# Copyright (c) mmbrain contributors. All rights reserved.
"""The report reads what the runs left and shows every metric with its spread over seeds."""

import json
import os
import os.path as osp

import pytest

from mmbrain.pipeline import build_stages, collect_results, synthetic_plan, write_report
from mmbrain.pipeline.plan import (
    MAJORITY_CLASS_FILE,
    RIDGE_FILE,
    TEST_METRICS_FILE,
    Comparison,
    DownstreamTask,
    Initialisation,
)
from mmbrain.pipeline.report import ridge_metrics

BOX = {
    'random-init': [0.10, 0.12, 0.11],
    'shuffled': [0.12, 0.12, 0.12],
    'clip': [0.13, 0.10, 0.16],
    'brainformer': [0.15, 0.16, 0.17],
}
PCC = {
    'random-init': [0.05, 0.06, 0.04],
    'shuffled': [0.06, 0.05, 0.07],
    'clip': [0.20, 0.22, 0.21],
    'brainformer': [0.25, 0.24, 0.26],
    'wo-bfg': [0.22, 0.23, 0.21],
    'bfg-printed': [0.23, 0.22, 0.24],
    'wo-bfg-lcon1.0': [0.24, 0.24, 0.24],
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


def _fake_runs(plan, stages=None) -> None:
    """What the runs of ``plan`` would leave, written where its stage handles say (a few paths spelled out, so that
    the folders of runs made before the handles are still the ones read)."""
    stages = build_stages(plan) if stages is None else stages
    assert stages.get(None, 'seg_majority-class').output_dir == osp.join(plan.work_dir, 'seg_majority-class')
    seed = plan.seeds[0]
    assert stages.get(seed, 'det', 'clip').output_dir == osp.join(plan.seed_dir(seed), 'det_clip')
    _json(osp.join(plan.work_dir, 'seg_majority-class', MAJORITY_CLASS_FILE), {'mIoU': 1.96, 'aAcc': 25.43})
    for (seed, kind, key), stage in stages.handles.items():
        i = plan.seeds.index(seed) if seed is not None else 0
        out = stage.output_dir
        if kind == 'pretrain' and key == 'clip':
            _scalars(out, {'retrieval/img2text_top1': 30.0})
        elif kind == 'pretrain':
            chance = key == 'shuffled'
            _scalars(
                out,
                {
                    'retrieval/img2brain_top1': 1.25 if chance else 10.0 + i,
                    'retrieval/brain2img_top1': 9.0,
                    'retrieval/img2brain_chance_top1': 1.25,
                    'retrieval/subj01/img2brain_top1': 11.0 + i,
                    'retrieval/subj01/brain2img_top1': 8.0,
                    'retrieval/subj01/img2brain_chance_top1': 2.5,
                },
            )
        elif kind == 'det':
            box = BOX.get(key, [0.2] * 3)[i]
            _scalars(out, {'coco/bbox_mAP': box, 'coco-wo-nsd/bbox_mAP': box})
        elif kind == 'seg':
            _scalars(out, {'mIoU': 40.0 + i, 'aAcc': 80.0})
        elif kind in ('encoding', 'encoding-spatial'):
            value = PCC.get(key, [0.3, 0.3, 0.3])[i] + (0.01 if kind == 'encoding-spatial' else 0)
            _json(
                osp.join(out, TEST_METRICS_FILE),
                {
                    'nsd/pearson_mean': value,
                    'nsd/algonauts_score': 10 * value,
                    'nsd/floc-faces/pearson_mean': value + 0.1,
                },
            )
        elif kind == 'ridge':
            _json(osp.join(out, RIDGE_FILE), {'ridge/nsd/pearson_mean': PCC.get(key, [0.3] * 3)[i] / 2})


@pytest.fixture
def report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def make(seeds, **options):
        plan = synthetic_plan(seeds=seeds, **options)
        _fake_runs(plan)
        timings = {'world': 30.0, **{f'seed{s}/pretrain_brainformer': 100.0 for s in seeds}}
        path = osp.join(plan.work_dir, 'report.md')
        write_report(
            collect_results(plan, timings), {}, path, command=['python', 'tools/run_pipeline.py'], commit='abc1234'
        )
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
        'Brainformer - random init on box AP (does brain pretraining help at all): +0.050, 95% interval '
        '[+0.025, +0.075] over 3 seeds: larger than the seed spread'
    ) in text
    assert (
        'Brainformer - CLIP on box AP (fMRI against captions as the paired modality (paper Tables 1-2)): +0.030, 95% '
        'interval [-0.036, +0.096] over 3 seeds: within the seed spread' in text
    )
    assert '| Brainformer - w/o guidance loss | +0.030 [' in text  # Table 3, on the encoding task
    assert '| Brainformer - printed Eq. 6 | +0.000 [+0.000, +0.000] | - |' in text  # and on retrieval


def test_every_pair_on_every_metric_with_the_control(report):
    text = report([0, 1, 2])
    det = text.split('### Detection')[1].split('###')[0]
    pairs = [
        'Brainformer - shuffled pairing',
        'Brainformer - CLIP',
        'Brainformer - random init',
        'shuffled pairing - CLIP',
        'shuffled pairing - random init',
        'CLIP - random init',
    ]
    for pair in pairs:
        assert det.count(f'| {pair} |') == 2, pair  # val2017, and val2017 without the NSD images
    # box AP: shuffled 0.12 everywhere, random init 0.10 / 0.12 / 0.11 -> +0.010 [-0.015, +0.035]
    assert '| shuffled pairing - random init | +0.010 [-0.015, +0.035] |' in det
    assert '| shuffled pairing | 0.120 ± 0.000 |' in det
    encoding = text.split('### Brain response prediction (')[1].split('###')[0]
    assert (
        '| w/o guidance loss - printed Eq. 6 |' in encoding
        and '| w/o guidance loss, λ_con 1.0 - random init |' in encoding
    )
    assert encoding.count(' - ') >= 21  # 7 initialisations: 21 pairs
    # the reading lines of the pairs that matter, with what the synthetic world decides by construction
    assert (
        'Brainformer - shuffled pairing on PCC (mean r) (does the brain signal matter (the same pretraining with '
        'the pairing destroyed)): +0.190, 95% interval [+0.190, +0.190]'
    ) in encoding
    assert 'Synthetic world: decided by construction: the true pairing carries the image features' in encoding
    assert 'Synthetic world: not decided by construction: boxes, masks and classes' in det
    # retrieval: Brainformer - shuffled, where the world decides it (the shuffled pairing retrieves at chance)
    pretraining = text.split('## Pretraining')[1].split('## Downstream')[0]
    assert '| Brainformer - shuffled pairing | +9.750 [+7.266, +12.234] |' in pretraining
    assert 'only the true pairing links a response to its image' in pretraining
    assert 'CLIP -' not in pretraining  # captions and fMRI retrieval are not one metric
    assert '### Brain response prediction with the spatial readout' in text


def test_a_new_initialisation_and_task_need_no_report_code(tmp_path, monkeypatch):
    """An initialisation and a task added to the plan get their rows, columns, differences and reading lines."""
    from dataclasses import replace

    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan(seeds=[0, 1, 2], guidance_ablations=False)
    task = DownstreamTask(
        'count',
        'Counting objects (a fake task)',
        plan.tasks[1].config,
        {'count/acc': 'count accuracy', 'count/f1': 'F1'},
    )
    init = Initialisation(
        'fake pretraining',
        'fake',
        plan.main.config,
        tasks=('count', 'det'),
        comparisons=(
            Comparison('fake', 'random-init', 'does faking help', {'count': 'decided by construction: it fakes'}),
        ),
    )
    plan = replace(plan, pretrain=plan.pretrain + [init], tasks=plan.tasks + [task])
    stages = build_stages(plan)
    _fake_runs(plan, stages)
    for i, seed in enumerate(plan.seeds):
        for key in ('random-init', 'fake'):  # the initialisations that run it
            _scalars(stages.get(seed, 'count', key).output_dir, {'count/acc': 0.5 + (0.1 * i if key == 'fake' else 0)})
    path = str(tmp_path / 'report.md')
    write_report(collect_results(plan, {}, stages), {}, path, commit='abc1234')
    text = open(path).read()
    count = text.split('### Counting objects (a fake task)')[1]
    assert '| initialisation | count accuracy | F1 |' in count
    assert '| fake pretraining | 0.600 ± 0.100 | - |' in count and '| random init | 0.500 ± 0.000 | - |' in count
    assert '| fake pretraining - random init | +0.100 [-0.148, +0.348] | - |' in count
    assert '- fake pretraining - random init on count accuracy (does faking help): +0.100' in count
    assert 'Synthetic world: decided by construction: it fakes.' in count
    assert '| fake pretraining | 0.200 ± 0.000 |' in text.split('### Detection')[1]
    assert '| fake pretraining | brain | 11.000 ± 1.000 |' in text


def test_paths_are_shown_relative_to_the_repository_or_the_work_dir(tmp_path, monkeypatch):
    from mmbrain.pipeline.report import shown_path

    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan(seeds=[0], work_dir=str(tmp_path / 'runs'))
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    assert shown_path(osp.join(repo, 'data', 'x'), plan.work_dir) == osp.join('data', 'x')
    assert shown_path(plan.converted_dir, plan.work_dir) == 'WORK_DIR/../data/synthetic_nsd/mmbrain'
    assert shown_path(plan.work_dir, plan.work_dir) == 'WORK_DIR'
    path = osp.join(plan.work_dir, 'report.md')
    command = ['python', 'tools/run_pipeline.py', '--work-dir', plan.work_dir]
    write_report(collect_results(plan, {}), {}, path, command=command, commit='abc1234')
    text = open(path).read()
    assert str(tmp_path) not in text and '--work-dir WORK_DIR`' in text


def test_one_seed_cannot_tell(report):
    text = report([0])
    assert 'One seed (0)' in text
    assert '| Brainformer - random init | +0.050 (1 seed, no interval) |' in text
    assert 'one seed has no spread, so this report cannot tell' in text
    assert '±' not in text.split('## Downstream')[1].split('## Time')[0]


def test_the_report_says_which_encoding_numbers_algonauts_scores_compare_with(report):
    reading = report([0, 1]).split('## Reading this report')[1].split('## Time')[0]
    note = next(line for line in reading.splitlines() if 'Algonauts 2023 scores' in line)
    assert '"Algonauts score" is the challenge\'s formula' in note
    assert '"PCC (mean r)" is the raw mean Pearson r over unique voxels, comparable with no Algonauts score' in note


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
    _json(
        osp.join(plan.seed_dir(3), 'gradcam', 'gradcam_sanity.json'),
        {'rows': {'CLIP': {'randomization_spearman_mean': 0.12, 'between_images_spearman': None}}},
    )
    results = collect_results(plan, {})
    figures = write_figures(results, str(tmp_path / 'figures'))
    write_report(results, figures, str(tmp_path / 'report.md'), commit='abc1234')
    text = (tmp_path / 'report.md').read_text()
    assert '![Grad-CAM (paper Fig. 6)](figures/gradcam.png)' in text
    assert '| CLIP | +0.12 | undefined (constant maps) |' in text  # the sanity checks the Grad-CAM stage wrote
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


@pytest.mark.slow
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

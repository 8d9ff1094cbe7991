# Copyright (c) mmbrain contributors. All rights reserved.
"""Resumable, atomic stages of the end-to-end pipeline."""
import json
import os.path as osp

import pytest

from mmbrain.pipeline import Stage, StageRunner, final_checkpoint


def _stages(calls, fail_at=None):

    def make(name):

        def run(out_dir):
            calls.append(name)
            with open(osp.join(out_dir, 'out.txt'), 'w') as f:
                f.write(name)
            if name == fail_at:
                raise RuntimeError(f'{name} failed')

        return Stage(name, f'stage {name}', run)

    return [make(name) for name in ('a', 'b', 'c')]


def test_finished_stages_are_reused(tmp_path):
    calls = []
    outputs = StageRunner(str(tmp_path), log=lambda _: None).run(_stages(calls))
    assert calls == ['a', 'b', 'c']
    assert open(osp.join(outputs['b'], 'out.txt')).read() == 'b'
    assert json.load(open(osp.join(outputs['b'], '.stage.json')))['stage'] == 'b'
    calls.clear()
    runner = StageRunner(str(tmp_path), log=lambda _: None)
    runner.run(_stages(calls))
    assert calls == []
    assert set(runner.timings) == {'a', 'b', 'c'}


def test_a_changed_stage_runs_again(tmp_path):
    calls = []
    StageRunner(str(tmp_path), log=lambda _: None).run(_stages(calls))
    calls.clear()
    stages = _stages(calls)
    stages[1].description = 'stage b with another config'
    StageRunner(str(tmp_path), log=lambda _: None).run(stages)
    assert calls == ['b', 'c']


def test_redo_runs_the_stage_and_every_later_one(tmp_path):
    calls = []
    StageRunner(str(tmp_path), log=lambda _: None).run(_stages(calls))
    calls.clear()
    StageRunner(str(tmp_path), redo=['b'], log=lambda _: None).run(_stages(calls))
    assert calls == ['b', 'c']


def test_interrupted_stage_leaves_only_a_partial_folder(tmp_path):
    calls = []
    with pytest.raises(RuntimeError, match='b failed'):
        StageRunner(str(tmp_path), log=lambda _: None).run(_stages(calls, fail_at='b'))
    assert osp.isdir(tmp_path / 'a') and not osp.exists(tmp_path / 'b')
    assert osp.isdir(tmp_path / 'b.partial')  # never trusted: no .stage.json, not at the final path
    calls.clear()
    StageRunner(str(tmp_path), log=lambda _: None).run(_stages(calls))
    assert calls == ['b', 'c']
    assert not osp.exists(tmp_path / 'b.partial')


def test_final_checkpoint_prefers_best_then_latest(tmp_path):
    for name in ('iter_50.pth', 'iter_200.pth', 'iter_100.pth'):
        (tmp_path / name).touch()
    assert final_checkpoint(str(tmp_path)).endswith('iter_200.pth')
    (tmp_path / 'best_nsd_pearson_mean_epoch_3.pth').touch()
    assert final_checkpoint(str(tmp_path)).endswith('best_nsd_pearson_mean_epoch_3.pth')
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        final_checkpoint(str(tmp_path / 'missing'))


def test_plans_name_existing_configs_and_the_right_launchers():
    from mmbrain.pipeline import build_stages, nsd_plan, synthetic_plan
    from mmbrain.pipeline.plan import REPO_ROOT, _train_command
    for plan in (synthetic_plan(), nsd_plan('data/nsd', gpus=8), nsd_plan('data/nsd', gpus=8, backbone='swin-s')):
        configs = [plan.pretrain_config, *plan.ablations.values()]
        configs += [c for task in plan.tasks for c in (task.pretrained_config, task.random_config)]
        for config in configs:
            assert osp.isfile(osp.join(REPO_ROOT, config)), config
        assert len(build_stages(plan)) == (2 if plan.synthetic else 1) + len(configs) + 1 + len(plan.ablations)
    real = nsd_plan('data/nsd', gpus=8)
    cmd = _train_command(real, real.pretrain_config, 'out')
    assert cmd[:4] == ['bash', osp.join(REPO_ROOT, 'tools/dist_train.sh'), real.pretrain_config, '8']
    demo = synthetic_plan()
    assert _train_command(demo, demo.tasks[0].pretrained_config, 'out', 'mmdet')[1].endswith(
        osp.join('mmdet', '.mim', 'tools', 'train.py'))

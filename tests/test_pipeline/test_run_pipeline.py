# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/run_pipeline.py: from the command line to the report, and its exit statuses (fake stages)."""

import os
import os.path as osp

import pytest
from _helpers import load_tool

import mmbrain.pipeline as pipeline
from mmbrain.pipeline.plan import PlannedStages
from mmbrain.pipeline.workdir import work_dir_lock

from ._fake_pipeline import calls_of, fake_stage


@pytest.fixture
def tool(tmp_path, monkeypatch):
    """The tool, in an empty current folder, with the plan's stages replaced by two fake ones."""
    monkeypatch.chdir(tmp_path)
    calls = str(tmp_path / 'calls.txt')

    def fake_build(plan):
        stages = PlannedStages()
        stages.add(fake_stage('seed0/a', plan.seed_dir(0), calls), 0, 'a')
        fail = 'raise SystemExit(4)' if tool.fail else ''
        stages.add(fake_stage('seed0/b', plan.seed_dir(0), calls, inputs=['seed0/a'], extra=fail), 0, 'b')
        return stages

    monkeypatch.setattr(pipeline, 'build_stages', fake_build)
    tool = load_tool('tools/run_pipeline.py')
    tool.fail, tool.calls = False, calls
    return tool


@pytest.mark.slow  # runs the fake stages as child processes
def test_runs_the_stages_and_writes_the_report(tool, tmp_path, capsys):
    assert tool.main(['--work-dir', 'my runs']) == 0
    assert calls_of(tool.calls) == ['seed0/a', 'seed0/b']
    report = tmp_path / 'my runs' / 'report.md'
    text = report.read_text()
    assert text.startswith('# Brainformer end-to-end report')
    assert '| seed0/b |' in text and 'One seed (0)' in text
    assert tool.main(['--work-dir', 'my runs']) == 0  # everything reused
    assert calls_of(tool.calls) == ['seed0/a', 'seed0/b']
    assert 'unchanged, reusing' in capsys.readouterr().out


@pytest.mark.slow  # runs the fake stages as child processes
def test_exit_status_of_a_failed_stage_and_of_a_held_lock(tool, tmp_path, capsys):
    tool.fail = True
    assert tool.main([]) == 1
    assert 'exited with status 4' in capsys.readouterr().err
    assert osp.isdir(tmp_path / 'work_dirs' / 'demo' / 'seed0' / 'b.partial')
    with work_dir_lock(str(tmp_path / 'work_dirs' / 'demo')):
        assert tool.main([]) == 1
    assert 'is in use by another pipeline' in capsys.readouterr().err


def test_usage_errors(tool):
    for argv in (
        ['--seeds', '1', '1'],
        ['--seed', '1', '--seeds', '2'],
        ['--gpus', '0'],
        ['--redo', 'c'],
        ['--jobs', '0'],
        ['--world-args', '--snr "0'],  # unbalanced quote
        ['--converted', 'conv'],  # needs --nsd-root
        ['--convert-args', '--space fsaverage'],
        ['--nsd-root', 'data/nsd', '--world-args', '--snr 0'],
        ['--nsd-root', 'data/nsd', '--converted', 'a', '--converted-root', 'b'],
        ['--nsd-root', 'data/nsd', '--backbone', 'swin-s', '--table3'],  # no swin-s Table 3 configs
        ['--ablations', 'wo-bfg', '--table3'],  # one way to choose at a time
        ['--ablations', 'no-such-ablation'],
        ['--tasks', 'retrieval'],
        ['--nsd-root', 'data/nsd', '--tasks', 'encoding-spatial'],  # no spatial readout stage on NSD
        ['--nsd-root', 'data/nsd', '--gpus', '4', '--node-gpus', '2'],  # fewer than one training needs
    ):
        with pytest.raises(SystemExit) as exc:
            tool.main(argv)
        assert exc.value.code == 2, argv


def test_jobs_default_to_the_cpu_cores_on_the_synthetic_world(tool, monkeypatch):
    from mmbrain.pipeline import executor

    monkeypatch.setattr(executor, 'available_cpus', lambda: 2)
    assert tool.parse_args([]).jobs == 2
    monkeypatch.setattr(executor, 'available_cpus', lambda: 64)
    assert tool.parse_args([]).jobs == tool.MAX_DEFAULT_JOBS
    assert tool.parse_args(['--jobs', '1']).jobs == 1
    assert tool.parse_args(['--nsd-root', 'data/nsd']).jobs == 1  # every training there uses all --gpus


@pytest.mark.parametrize('argv, pool', [([], 8), (['--gpus', '4', '--node-gpus', '8'], 8), (['--gpus', '4'], 4)])
def test_the_node_gpus_are_the_pool_shared_by_running_stages(tool, monkeypatch, argv, pool):
    seen = {}

    def recording_runner(*args, **kwargs):
        seen.update(kwargs)
        raise pipeline.PipelineUsageError('recorded')

    monkeypatch.setattr(pipeline, 'StageRunner', recording_runner)
    with pytest.raises(SystemExit):
        tool.main(['--nsd-root', 'data/nsd', '--list', *argv])
    assert seen['gpus'] == pool


def _plan_of(tool, monkeypatch, argv):
    seen = {}
    monkeypatch.setattr(pipeline, 'build_stages', lambda plan: seen.setdefault('plan', plan) and PlannedStages())
    assert tool.main(argv + ['--list']) == 0
    return seen['plan']


def test_world_arguments_reach_the_world_stage(tool, monkeypatch):
    plan = _plan_of(tool, monkeypatch, ['--world-args', '--snr 0 --coco-extra 10'])
    assert plan.world_args == ('--snr', '0', '--coco-extra', '10')


def test_ablations_by_default_in_the_synthetic_study_only(tool, monkeypatch):
    def keys(argv):
        return [init.key for init in _plan_of(tool, monkeypatch, argv).pretrain]

    assert keys([]) == ['brainformer', 'shuffled', 'clip']
    assert {'printed-windows', 'wo-bfg-lcon1.0'} <= set(keys(['--seeds', '0', '1']))
    assert keys(['--nsd-root', 'data/nsd', '--seeds', '0', '1']) == ['brainformer', 'shuffled', 'clip']
    assert 'learned-pos-embed' in keys(['--nsd-root', 'data/nsd', '--table3'])
    chosen = ['--seeds', '0', '1', '--ablations', 'printed-windows', 'wo-bfg']
    assert keys(chosen) == ['brainformer', 'wo-bfg', 'printed-windows', 'shuffled', 'clip']
    assert keys(['--ablations', 'wo-bfg-lcon1.0']) == ['brainformer', 'wo-bfg-lcon1.0', 'shuffled', 'clip']


def test_tasks_by_name(tool, monkeypatch):
    plan = _plan_of(tool, monkeypatch, ['--tasks', 'seg', 'encoding'])
    assert [task.name for task in plan.tasks] == ['seg', 'encoding']


@pytest.mark.slow  # runs the fake stages as child processes
def test_the_report_shows_no_absolute_path(tool, tmp_path):
    assert tool.main(['--work-dir', str(tmp_path / 'runs')]) == 0
    text = (tmp_path / 'runs' / 'report.md').read_text()
    assert str(tmp_path) not in text and 'Command: `python tools/run_pipeline.py --work-dir WORK_DIR`' in text


@pytest.mark.slow
def test_the_real_data_plan_refuses_missing_data_before_any_stage_runs(nsd_world, tmp_path, monkeypatch, capsys):
    """NSD in its native layout (the tiny synthetic world), no COCO / ADE20K where the det / seg configs read them:
    the job stops with the missing paths before any stage runs; a hand-made conversion is checked by the reader."""
    monkeypatch.chdir(tmp_path)
    tool = load_tool('tools/run_pipeline.py')
    assert tool.main(['--nsd-root', nsd_world.root, '--work-dir', 'runs', '--gpus', '1']) == 1
    err = capsys.readouterr().err
    assert 'nothing was run' in err
    assert 'data/coco/annotations/instances_train2017_nsd-excluded.json (read by configs/det/mask-rcnn_' in err
    assert 'data/ade/ADEChallengeData2016' in err and 'captions_train2017.json' in err
    assert 'nsd_stimuli.hdf5' not in err  # the NSD stimuli are where --nsd-root says
    assert not osp.exists(tmp_path / 'runs' / 'converted') and not osp.exists(tmp_path / 'runs' / 'seed0')
    (tmp_path / 'empty').mkdir()
    assert tool.main(['--nsd-root', nsd_world.root, '--work-dir', 'runs', '--converted', 'empty']) == 1
    assert 'no converted subjXX.h5 files' in capsys.readouterr().err
    assert tool.main(['--nsd-root', nsd_world.root, '--work-dir', 'runs', '--converted', nsd_world.converted_dir]) == 1
    err = capsys.readouterr().err
    assert 'converted subjXX.h5' not in err and 'coco' in err  # the reader accepts the world's own conversion
    # COCO, ADE20K and NSD where the configs read them (OpenMMLab's data/ links): only COCO without the NSD images
    # (coco_exclude_nsd.py) is still missing
    (tmp_path / 'data' / 'ade').mkdir(parents=True)
    os.symlink(nsd_world.coco_dir, tmp_path / 'data' / 'coco')
    os.symlink(nsd_world.ade_dir, tmp_path / 'data' / 'ade' / 'ADEChallengeData2016')
    os.symlink(nsd_world.root, tmp_path / 'data' / 'nsd')
    assert tool.main(['--nsd-root', 'data/nsd', '--work-dir', 'runs', '--gpus', '1']) == 1
    missing = [line.split()[0] for line in capsys.readouterr().err.splitlines()[1:]]
    assert missing == [
        'data/coco/annotations/instances_train2017_nsd-excluded.json',
        'data/coco/annotations/instances_val2017_nsd-excluded.json',
    ]

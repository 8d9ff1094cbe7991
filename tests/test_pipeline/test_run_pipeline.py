# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/run_pipeline.py: from the command line to the report, and its exit statuses (fake stages)."""

import os.path as osp

import pytest
from _helpers import load_tool

import mmbrain.pipeline as pipeline
from mmbrain.pipeline.workdir import work_dir_lock

from ._fake_pipeline import calls_of, fake_stage


@pytest.fixture
def tool(tmp_path, monkeypatch):
    """The tool, in an empty current folder, with the plan's stages replaced by two fake ones."""
    monkeypatch.chdir(tmp_path)
    calls = str(tmp_path / 'calls.txt')

    def fake_build(plan):
        return [
            fake_stage('seed0/a', plan.seed_dir(0), calls),
            fake_stage(
                'seed0/b', plan.seed_dir(0), calls, inputs=['seed0/a'], extra='raise SystemExit(4)' if tool.fail else ''
            ),
        ]

    monkeypatch.setattr(pipeline, 'build_stages', fake_build)
    tool = load_tool('tools/run_pipeline.py')
    tool.fail, tool.calls = False, calls
    return tool


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

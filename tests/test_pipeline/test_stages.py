# Copyright (c) mmbrain contributors. All rights reserved.
"""Declared stages: honest reuse, the on-disk decision, atomic replace, the lock, children, paths, checkpoints."""

import json
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mmbrain.pipeline import stages as stages_module
from mmbrain.pipeline.stages import (
    PLAN_FILE,
    RECORD,
    Checkpoint,
    GeneratedConfig,
    Out,
    PipelineError,
    PipelineUsageError,
    Stage,
    StageConfig,
    StageFailed,
    StageRunner,
    WorkDirLocked,
    final_checkpoint,
    read_record,
    work_dir_lock,
)

from ._fake_pipeline import calls_of, fake_stage
from ._sleeping_pipeline import SLEEP

SLEEPING_PIPELINE = osp.join(osp.dirname(osp.abspath(__file__)), '_sleeping_pipeline.py')


def _quiet(_):
    pass


@pytest.fixture
def chain(tmp_path):
    """``a`` (seeded, with a config) -> ``b`` -> ``c``, and ``a`` -> ``d``; returns a factory of the stage list."""
    work = str(tmp_path / 'work')
    calls = str(tmp_path / 'calls.txt')
    config = tmp_path / 'a_config.py'
    config.write_text('value = 1\nmodel = dict(depth=2)\n')

    def make(seed=0, overrides=None, fail=None, d_extra=''):
        fail_code = 'raise SystemExit(3)'
        return [
            fake_stage(
                'a',
                work,
                calls,
                seed=seed,
                config=StageConfig(str(config), overrides or {}),
                extra=fail_code if fail == 'a' else '',
            ),
            fake_stage('b', work, calls, inputs=['a'], extra=fail_code if fail == 'b' else ''),
            fake_stage('c', work, calls, inputs=['b']),
            fake_stage('d', work, calls, inputs=['a'], extra=d_extra),
        ]

    make.work, make.calls, make.config = work, calls, config
    return make


def _run(stages, work, redo=()):
    runner = StageRunner(stages, work, redo=redo, log=_quiet)
    runner.run()
    return runner


def _fresh_calls(chain):
    done = calls_of(chain.calls)
    os.remove(chain.calls) if osp.exists(chain.calls) else None
    return done


def test_finished_stages_are_reused(chain):
    _run(chain(), chain.work)
    assert _fresh_calls(chain) == ['a', 'b', 'c', 'd']
    record = read_record(osp.join(chain.work, 'b'), 'b')
    assert record['input_runs'] == {'a': read_record(osp.join(chain.work, 'a'))['run_id']}
    runner = _run(chain(), chain.work)
    assert _fresh_calls(chain) == []
    assert set(runner.timings) == {'a', 'b', 'c', 'd'}


def test_changed_seed_reruns_the_stage_and_its_dependants(chain):
    _run(chain(seed=0), chain.work)
    _fresh_calls(chain)
    decisions = StageRunner(chain(seed=1), chain.work, log=_quiet).decide()
    assert decisions[0].reason == 'changed: seed'
    _run(chain(seed=1), chain.work)
    assert _fresh_calls(chain) == ['a', 'b', 'c', 'd']


def test_changed_config_value_reruns_the_stage_and_its_dependants(chain):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    chain.config.write_text('value = 2\nmodel = dict(depth=2)\n')  # the file itself
    _run(chain(), chain.work)
    assert _fresh_calls(chain) == ['a', 'b', 'c', 'd']
    _run(chain(overrides={'model.depth': 3}), chain.work)  # an override (what --cfg-options used to carry)
    assert _fresh_calls(chain) == ['a', 'b', 'c', 'd']
    _run(chain(overrides={'model.depth': 3}), chain.work)
    assert _fresh_calls(chain) == []


def test_unrelated_change_reruns_only_what_depends_on_it(chain):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    _run(chain(d_extra='pass'), chain.work)  # d's command changed; a, b, c do not read d
    assert _fresh_calls(chain) == ['d']
    _run(chain(d_extra='pass'), chain.work, redo=['b'])
    assert _fresh_calls(chain) == ['b', 'c']


def test_input_run_again_invalidates_readers(chain):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    _run(chain()[:1], chain.work, redo=['a'])  # a is rerun alone: b, c, d were built on the old a
    assert _fresh_calls(chain) == ['a']
    decisions = StageRunner(chain(), chain.work, log=_quiet).decide()
    assert [d.run for d in decisions] == [False, True, True, True]
    assert 'input a was run again' in decisions[1].reason


def test_interrupted_redo_leaves_no_later_stage_marked_done(chain):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    with pytest.raises(StageFailed):  # --redo a, interrupted while b runs
        _run(chain(fail='b'), chain.work, redo=['a'])
    assert _fresh_calls(chain) == ['a', 'b']
    plan = json.load(open(osp.join(chain.work, PLAN_FILE)))
    assert [s['run'] for s in plan['stages']] == [True, True, True, True]
    assert plan['stages'][0]['reason'] == '--redo'
    # c and d were built on the old a: their records were invalidated before anything ran.
    assert read_record(osp.join(chain.work, 'c')) is None and read_record(osp.join(chain.work, 'd')) is None
    _run(chain(), chain.work)  # no --redo: a is reused (it finished), the rest reruns
    assert _fresh_calls(chain) == ['b', 'c', 'd']


def test_interrupted_stage_leaves_only_a_partial_folder(chain):
    with pytest.raises(StageFailed, match='exited with status 3'):
        _run(chain(fail='b'), chain.work)
    assert osp.isdir(osp.join(chain.work, 'a')) and not osp.exists(osp.join(chain.work, 'b'))
    assert osp.isdir(osp.join(chain.work, 'b.partial'))
    _fresh_calls(chain)
    _run(chain(), chain.work)
    assert _fresh_calls(chain) == ['b', 'c', 'd']
    assert not osp.exists(osp.join(chain.work, 'b.partial'))


def test_replace_is_atomic(chain, monkeypatch):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    old_run = read_record(osp.join(chain.work, 'd'))['run_id']

    # Killed while deleting the replaced folder: the new folder is in place and complete, the half-deleted old one
    # is never trusted and goes at the next start.
    real_rmtree = shutil.rmtree

    def killed(path, *args, **kwargs):
        if str(path).endswith('d.replaced'):
            raise KeyboardInterrupt
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(stages_module.shutil, 'rmtree', killed)
    with pytest.raises(KeyboardInterrupt):
        _run(chain(), chain.work, redo=['d'])
    monkeypatch.undo()
    assert _fresh_calls(chain) == ['d']
    assert osp.isdir(osp.join(chain.work, 'd.replaced'))
    new_run = read_record(osp.join(chain.work, 'd'))['run_id']
    assert new_run != old_run
    _run(chain(), chain.work)  # the new d is complete: reused
    assert _fresh_calls(chain) == []
    assert not osp.exists(osp.join(chain.work, 'd.replaced'))

    # Killed between moving the old folder aside and moving the new one in: nothing is at the final path, so the
    # stage runs again; neither leftover is trusted.
    real_rename = os.rename

    def rename(src, dst):
        if src.endswith('d.partial'):
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(stages_module.os, 'rename', rename)
    with pytest.raises(KeyboardInterrupt):
        _run(chain(), chain.work, redo=['d'])
    monkeypatch.undo()
    assert not osp.exists(osp.join(chain.work, 'd'))
    _fresh_calls(chain)
    _run(chain(), chain.work)
    assert _fresh_calls(chain) == ['d']
    assert sorted(p for p in os.listdir(chain.work) if p.startswith('d')) == ['d']


def test_redo_names(chain):
    runner = StageRunner(chain(), chain.work, redo=['b'], log=_quiet)
    assert runner.redo == {'b'}
    assert StageRunner(chain(), chain.work, redo=['all'], log=_quiet).redo == {'a', 'b', 'c', 'd'}
    per_seed = [fake_stage(f'seed{s}/x', chain.work, chain.calls) for s in (0, 1)]
    assert StageRunner(per_seed, chain.work, redo=['x'], log=_quiet).redo == {'seed0/x', 'seed1/x'}
    with pytest.raises(PipelineUsageError, match='no stage named bb; valid names: all, a, b, c, d'):
        StageRunner(chain(), chain.work, redo=['bb'], log=_quiet)


def test_misspelled_redo_is_a_usage_error(tmp_path, monkeypatch, capsys):
    from _helpers import load_tool

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        load_tool('tools/run_pipeline.py').main(['--redo', 'pretrain_brainfromer', '--list'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert 'no stage named pretrain_brainfromer' in err and 'pretrain_brainformer' in err


def test_missing_config_stops_before_anything_runs(chain):
    stages = chain()
    stages[2].config = StageConfig(osp.join(chain.work, 'nowhere.py'))
    with pytest.raises(PipelineError, match='nothing was run; files are missing:\n  c: missing: .*nowhere.py'):
        _run(stages, chain.work)
    assert calls_of(chain.calls) == []


def test_folders_the_pipeline_did_not_write_are_never_replaced(chain):
    os.makedirs(osp.join(chain.work, 'c'))
    with open(osp.join(chain.work, 'c', 'my_results.txt'), 'w') as f:
        f.write('precious')
    with pytest.raises(PipelineError, match='not written by the pipeline.*\n  .*/c$'):
        _run(chain(), chain.work)
    assert calls_of(chain.calls) == [] and osp.isfile(osp.join(chain.work, 'c', 'my_results.txt'))


def test_paths_with_spaces_and_commas_reach_the_config(tmp_path):
    work = str(tmp_path / 'work dirs' / 'my demo, 2')
    base = tmp_path / 'base config.py'
    base.write_text('model = dict(backbone=dict(init_cfg=dict(type="Pretrained", checkpoint="x.pth")))\n')
    target = osp.join(work, 'backbones', "it's here, really.pth")
    check = (
        'import sys; from mmengine.config import Config; cfg = Config.fromfile(sys.argv[1]); '
        f'assert cfg.model.backbone.init_cfg.checkpoint == {target!r}, cfg.model; '
        'assert cfg.model.backbone.init_cfg.type == "Pretrained"; open(sys.argv[2] + "/ok", "w").write("ok")'
    )
    stage = Stage(
        'train',
        'reads its generated config',
        [[sys.executable, '-c', check, GeneratedConfig(), Out()]],
        root=work,
        config=StageConfig(str(base), {'model.backbone.init_cfg.checkpoint': target}),
    )
    _run([stage], work)
    assert osp.isfile(osp.join(work, 'train', 'ok'))
    assert osp.isfile(osp.join(work, 'train', 'generated_config', 'base config.py'))  # named as its base


def test_last_checkpoint_points_into_the_final_folder(tmp_path):
    work = str(tmp_path / 'work')
    train = (
        'import os, sys; out = sys.argv[1]; open(os.path.join(out, "iter_4.pth"), "w").write("w"); '
        'open(os.path.join(out, "last_checkpoint"), "w").write(os.path.join(out, "iter_4.pth"))'
    )
    use = (
        'import sys; assert sys.argv[1].endswith("/train/iter_4.pth"), sys.argv[1]; '
        'assert ".partial" not in sys.argv[1]; open(sys.argv[1]).read()'
    )
    stages = [
        Stage('train', 'train', [[sys.executable, '-c', train, Out()]], root=work),
        Stage(
            'use',
            'reads the checkpoint',
            [[sys.executable, '-c', use, Checkpoint('train')]],
            root=work,
            inputs=['train'],
        ),
    ]
    _run(stages, work)
    with open(osp.join(work, 'train', 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'train', 'iter_4.pth')


def test_relative_paths_resolve_against_the_current_folder(tmp_path, monkeypatch):
    from mmbrain.pipeline import build_stages, synthetic_plan

    monkeypatch.chdir(tmp_path)
    plan = synthetic_plan('runs/my demo')
    assert plan.work_dir == str(tmp_path / 'runs' / 'my demo')
    assert plan.data_root == str(tmp_path / 'data' / 'synthetic_nsd')
    folders = {stage.name: stage.output_dir for stage in build_stages(plan)}
    assert folders['world'] == str(tmp_path / 'data' / 'synthetic_nsd')
    assert folders['seed0/pretrain_brainformer'] == str(
        tmp_path / 'runs' / 'my demo' / 'seed0' / 'pretrain_brainformer'
    )


def test_final_checkpoint_prefers_best_then_latest(tmp_path):
    run = tmp_path / 'run [1]'  # glob characters in the folder name
    run.mkdir()
    for name in ('iter_50.pth', 'iter_200.pth', 'iter_100.pth'):
        (run / name).touch()
    assert final_checkpoint(str(run)).endswith('iter_200.pth')
    (run / 'best_nsd_pearson_mean_epoch_3.pth').touch()
    assert final_checkpoint(str(run)).endswith('best_nsd_pearson_mean_epoch_3.pth')
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        final_checkpoint(str(tmp_path / 'missing'))


# ------------------------------------------------------------------------------------- lock, signals, children
def _alive(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ('Z', 'X')


def _wait(predicate, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _start_sleeper(tmp_path):
    work, pid_file = str(tmp_path / 'work'), str(tmp_path / 'child.pid')
    proc = subprocess.Popen(
        [sys.executable, SLEEPING_PIPELINE, work, pid_file],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert _wait(lambda: osp.isfile(pid_file) and open(pid_file).read().strip()), proc.stderr.read()
    return proc, work, int(open(pid_file).read())


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc and PR_SET_PDEATHSIG are Linux')
def test_lock_refuses_a_second_run_and_sigterm_stops_the_child(tmp_path):
    proc, work, child = _start_sleeper(tmp_path)
    try:
        start = time.monotonic()
        second = Stage('sleeper', 'sleeps', [[sys.executable, '-c', SLEEP, str(tmp_path / 'other.pid')]], root=work)
        with pytest.raises(WorkDirLocked, match=re.escape(f'{work} is in use by another pipeline (pid {proc.pid} ')):
            _run([second], work)
        assert time.monotonic() - start < 5
        assert osp.isdir(osp.join(work, 'sleeper.partial')) and _alive(child)  # the live run is untouched
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert _wait(lambda: not _alive(child), 15)
    finally:
        proc.kill()
    with work_dir_lock(work):  # released
        pass


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc and PR_SET_PDEATHSIG are Linux')
def test_killed_pipeline_leaves_no_child(tmp_path):
    proc, _, child = _start_sleeper(tmp_path)
    try:
        assert _alive(child)
        proc.kill()  # SIGKILL: no handler runs, the kernel sends the child its death signal
        proc.wait(30)
        assert _wait(lambda: not _alive(child), 15)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_record_lists_what_decided_the_stage(chain):
    _run(chain(seed=5), chain.work)
    record = json.load(open(osp.join(chain.work, 'a', RECORD)))
    assert record['seed'] == 5 and record['config']['file'] == str(chain.config)
    assert len(record['config']['hash']) == 64 and record['commands'][0][-1] == '{out}'
    assert record['resolved_commands'][0][-1] == osp.join(chain.work, 'a.partial')
    assert record['seconds'] >= 0 and len(record['run_id']) == 32

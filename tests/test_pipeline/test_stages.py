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

from mmbrain.pipeline.errors import PipelineError, PipelineUsageError, StageFailed, WorkDirLocked
from mmbrain.pipeline.executor import available_cpus
from mmbrain.pipeline.runner import PLAN_FILE, StageRunner
from mmbrain.pipeline.stages import (
    RECORD,
    Checkpoint,
    GeneratedConfig,
    Out,
    Stage,
    StageConfig,
    final_checkpoint,
    read_record,
)
from mmbrain.pipeline.workdir import work_dir_lock

from ._fake_pipeline import calls_of, fake_stage
from ._processes import alive, wait_for
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


@pytest.mark.slow
def test_finished_stages_are_reused(chain):
    _run(chain(), chain.work)
    assert _fresh_calls(chain) == ['a', 'b', 'c', 'd']
    record = read_record(osp.join(chain.work, 'b'), 'b')
    assert record['input_runs'] == {'a': read_record(osp.join(chain.work, 'a'))['run_id']}
    runner = _run(chain(), chain.work)
    assert _fresh_calls(chain) == []
    assert set(runner.timings) == {'a', 'b', 'c', 'd'}


@pytest.mark.slow
def test_changed_seed_reruns_the_stage_and_its_dependants(chain):
    _run(chain(seed=0), chain.work)
    _fresh_calls(chain)
    decisions = StageRunner(chain(seed=1), chain.work, log=_quiet).decide()
    assert decisions[0].reason == 'changed: seed'
    _run(chain(seed=1), chain.work)
    assert _fresh_calls(chain) == ['a', 'b', 'c', 'd']


@pytest.mark.slow
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


@pytest.mark.slow
def test_unrelated_change_reruns_only_what_depends_on_it(chain):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    _run(chain(d_extra='pass'), chain.work)  # d's command changed; a, b, c do not read d
    assert _fresh_calls(chain) == ['d']
    _run(chain(d_extra='pass'), chain.work, redo=['b'])
    assert _fresh_calls(chain) == ['b', 'c']


@pytest.mark.slow
def test_input_run_again_invalidates_readers(chain):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    _run(chain()[:1], chain.work, redo=['a'])  # a is rerun alone: b, c, d were built on the old a
    assert _fresh_calls(chain) == ['a']
    decisions = StageRunner(chain(), chain.work, log=_quiet).decide()
    assert [d.run for d in decisions] == [False, True, True, True]
    assert 'input a was run again' in decisions[1].reason


@pytest.mark.slow
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


@pytest.mark.slow
def test_interrupted_stage_leaves_only_a_partial_folder(chain):
    with pytest.raises(StageFailed, match='exited with status 3'):
        _run(chain(fail='b'), chain.work)
    assert osp.isdir(osp.join(chain.work, 'a')) and not osp.exists(osp.join(chain.work, 'b'))
    assert osp.isdir(osp.join(chain.work, 'b.partial'))
    _fresh_calls(chain)
    _run(chain(), chain.work)
    assert _fresh_calls(chain) == ['b', 'c', 'd']
    assert not osp.exists(osp.join(chain.work, 'b.partial'))


@pytest.mark.slow
def test_kill_during_publication_leaves_the_new_folder_and_no_leftover(chain, monkeypatch):
    _run(chain(), chain.work)
    _fresh_calls(chain)
    old_run = read_record(osp.join(chain.work, 'd'))['run_id']

    # Killed while deleting the replaced folder: the new folder is in place and complete, the half-deleted old one
    # is never trusted and goes at the next start.
    real_rmtree = shutil.rmtree

    def killed(path, *args, **kwargs):
        if str(path).endswith('.replaced') and osp.basename(str(path)).startswith('.d.'):
            raise KeyboardInterrupt
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, 'rmtree', killed)
    with pytest.raises(KeyboardInterrupt):
        _run(chain(), chain.work, redo=['d'])
    monkeypatch.undo()
    assert _fresh_calls(chain) == ['d']
    assert [p for p in os.listdir(chain.work) if p.endswith('.replaced')]
    new_run = read_record(osp.join(chain.work, 'd'))['run_id']
    assert new_run != old_run
    _run(chain(), chain.work)  # the new d is complete: reused
    assert _fresh_calls(chain) == []
    assert sorted(p for p in os.listdir(chain.work) if 'd' in p) == ['d']


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


@pytest.mark.slow
def test_missing_config_stops_before_anything_runs(chain):
    stages = chain()
    stages[2].config = StageConfig(osp.join(chain.work, 'nowhere.py'))
    with pytest.raises(PipelineError, match='nothing was run; files are missing:\n  c: missing: .*nowhere.py'):
        _run(stages, chain.work)
    assert calls_of(chain.calls) == []


@pytest.mark.slow
def test_folders_the_pipeline_did_not_write_are_never_replaced(chain):
    os.makedirs(osp.join(chain.work, 'c'))
    with open(osp.join(chain.work, 'c', 'my_results.txt'), 'w') as f:
        f.write('precious')
    with pytest.raises(PipelineError, match='not written by the pipeline.*\n  .*/c$'):
        _run(chain(), chain.work)
    assert calls_of(chain.calls) == [] and osp.isfile(osp.join(chain.work, 'c', 'my_results.txt'))


@pytest.mark.slow
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


@pytest.mark.slow
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
def _start_sleepers(tmp_path, count=1):
    """The sleeping pipeline with ``count`` stages running at once; returns it, its work dir and the child pids."""
    work = str(tmp_path / 'work')
    pid_files = [str(tmp_path / f'child{i}.pid') for i in range(count)]
    proc = subprocess.Popen(
        [sys.executable, SLEEPING_PIPELINE, work, *pid_files],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    written = lambda path: osp.isfile(path) and open(path).read().strip()  # noqa: E731
    assert wait_for(lambda: all(written(path) for path in pid_files)), proc.stderr.read()
    return proc, work, [int(open(pid_file).read()) for pid_file in pid_files]


def _start_sleeper(tmp_path):
    proc, work, (child,) = _start_sleepers(tmp_path)
    return proc, work, child


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc and PR_SET_PDEATHSIG are Linux')
@pytest.mark.slow
def test_lock_refuses_a_second_run_and_sigterm_stops_the_child(tmp_path):
    proc, work, child = _start_sleeper(tmp_path)
    try:
        start = time.monotonic()
        second = Stage('sleeper', 'sleeps', [[sys.executable, '-c', SLEEP, str(tmp_path / 'other.pid')]], root=work)
        with pytest.raises(WorkDirLocked, match=re.escape(f'{work} is in use by another pipeline (pid {proc.pid} ')):
            _run([second], work)
        assert time.monotonic() - start < 5
        assert osp.isdir(osp.join(work, 'sleeper.partial')) and alive(child)  # the live run is untouched
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert wait_for(lambda: not alive(child), 15)
    finally:
        proc.kill()
    with work_dir_lock(work):  # released
        pass


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc and PR_SET_PDEATHSIG are Linux')
@pytest.mark.slow
def test_killed_pipeline_leaves_no_child(tmp_path):
    proc, _, child = _start_sleeper(tmp_path)
    try:
        assert alive(child)
        proc.kill()  # SIGKILL: no handler runs, the kernel sends the child its death signal
        proc.wait(30)
        assert wait_for(lambda: not alive(child), 15)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc and PR_SET_PDEATHSIG are Linux')
@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.slow
def test_stopped_pipeline_stops_every_running_stage(tmp_path, signum):
    proc, work, children = _start_sleepers(tmp_path, count=2)
    try:
        assert all(alive(child) for child in children)  # both stages run at once
        proc.send_signal(signum)
        assert proc.wait(30) == (128 + signum if signum == signal.SIGTERM else -signal.SIGKILL)
        assert wait_for(lambda: not any(alive(child) for child in children), 15)
        assert sorted(os.listdir(work)) == ['.lock', PLAN_FILE, 'sleeper.partial', 'sleeper1.partial']
    finally:
        proc.kill()
        for child in children:
            if alive(child):
                os.kill(child, signal.SIGKILL)


# ----------------------------------------------------------------------------------------------------- jobs > 1
#: ``python -c`` body of a stage that meets others: it leaves ``MARKERS/<name>``, waits (``patience`` s, else exit 5)
#: until every stage of ``meet`` left its marker, sleeps, then writes when it started and ended and its
#: OMP_NUM_THREADS. Stages that meet can only finish if they run at once, whatever the machine's load.
MEETING = (
    'import os, sys, time; out, markers = sys.argv[1], {markers!r}; t0 = time.time(); '
    'open(os.path.join(markers, {name!r}), "w").close(); deadline = time.time() + {patience}\n'
    'while not all(os.path.exists(os.path.join(markers, m)) for m in {meet!r}):\n'
    '    time.sleep(0.02)\n'
    '    if time.time() > deadline: raise SystemExit(5)\n'
    'time.sleep({seconds}); open(os.path.join(out, "times.txt"), "w").write(f"{{t0}} {{time.time()}}"); '
    'open(os.path.join(out, "omp.txt"), "w").write(os.environ.get("OMP_NUM_THREADS", "")); {end}'
)


def _meeting_stage(name, root, markers, meet=(), inputs=(), seconds=0.0, fail=False, patience=60.0):
    code = MEETING.format(
        name=name,
        markers=str(markers),
        meet=list(meet),
        seconds=seconds,
        patience=patience,
        end='raise SystemExit(3)' if fail else 'pass',
    )
    return Stage(name, f'meeting {name}', [[sys.executable, '-c', code, Out()]], root=root, inputs=list(inputs))


def _times(work, name):
    start, end = open(osp.join(work, name, 'times.txt')).read().split()
    return float(start), float(end)


@pytest.fixture
def markers(tmp_path):
    folder = tmp_path / 'markers'
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_jobs_run_independent_stages_at_once_and_readers_after_their_inputs(tmp_path, markers, monkeypatch):
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    work = str(tmp_path / 'work')
    stages = [
        _meeting_stage('x', work, markers, meet=['y']),  # x and y wait for each other: they must run at once
        _meeting_stage('y', work, markers, meet=['x']),
        _meeting_stage('z', work, markers, inputs=['x', 'y']),
    ]
    runner = StageRunner(stages, work, log=_quiet, jobs=2)
    runner.run()
    (_, x1), (_, y1), (z0, _) = (_times(work, name) for name in 'xyz')
    assert z0 >= max(x1, y1)  # z started after both its inputs ended
    assert open(osp.join(work, 'x', 'omp.txt')).read() == str(max(1, available_cpus() // 2))
    assert set(runner.timings) == {'x', 'y', 'z'}
    assert all(read_record(osp.join(work, name)) for name in 'xyz')
    again = StageRunner(stages, work, log=_quiet, jobs=2)
    assert [d.run for d in again.decide()] == [False, False, False]


@pytest.mark.slow
def test_one_job_runs_one_stage_at_a_time(tmp_path, markers):
    work = str(tmp_path / 'work')
    stages = [_meeting_stage('x', work, markers, meet=['y'], patience=3.0), _meeting_stage('y', work, markers)]
    with pytest.raises(StageFailed, match='exited with status 5'):  # x waited for y in vain
        StageRunner(stages, work, log=_quiet, jobs=1).run()
    assert not osp.exists(markers / 'y')


@pytest.mark.slow
def test_jobs_keep_an_omp_num_threads_the_user_set(tmp_path, markers, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    work = str(tmp_path / 'work')
    StageRunner([_meeting_stage('x', work, markers)], work, log=_quiet, jobs=2).run()
    assert open(osp.join(work, 'x', 'omp.txt')).read() == '3'


@pytest.mark.slow
def test_a_failed_stage_lets_the_running_ones_finish_and_starts_no_other(tmp_path, markers):
    work = str(tmp_path / 'work')
    stages = [
        _meeting_stage('fails', work, markers, fail=True),
        # runs beside it, and goes on for 2 s after it failed
        _meeting_stage('slow', work, markers, meet=['fails'], seconds=2.0),
        _meeting_stage('later', work, markers),
    ]
    with pytest.raises(StageFailed, match='exited with status 3'):
        StageRunner(stages, work, log=_quiet, jobs=2).run()
    assert read_record(osp.join(work, 'slow')) is not None  # finished and published after the failure
    assert not osp.exists(osp.join(work, 'later')) and not osp.exists(osp.join(work, 'later.partial'))
    assert osp.isdir(osp.join(work, 'fails.partial'))


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match='jobs must be at least 1'):
        StageRunner([], str(tmp_path), jobs=0)


@pytest.mark.slow
def test_record_lists_what_decided_the_stage(chain):
    _run(chain(seed=5), chain.work)
    record = json.load(open(osp.join(chain.work, 'a', RECORD)))
    assert record['seed'] == 5 and record['config']['file'] == str(chain.config)
    assert len(record['config']['hash']) == 64 and record['commands'][0][-1] == '{out}'
    assert record['resolved_commands'][0][-1] == osp.join(chain.work, 'a.partial')
    assert record['seconds'] >= 0 and len(record['run_id']) == 32

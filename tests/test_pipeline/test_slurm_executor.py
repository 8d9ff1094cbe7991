# Copyright (c) mmbrain contributors. All rights reserved.
"""The Slurm executor (mmbrain/pipeline/slurm.py): its sbatch scripts and options, and, against the real one-node
cluster of tests/_slurm.py (skipped where it cannot be started), submission with dependencies, job states and
cancellation."""

import argparse
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import _slurm
import pytest

from mmbrain.pipeline.runner import StageRunner
from mmbrain.pipeline.slurm import (
    JOB_ID_FILE,
    SlurmClient,
    SlurmExecutor,
    SlurmOptions,
    add_executor_arguments,
    executor_from_args,
    job_resources,
    read_job_file,
    render_batch_script,
    srun_command,
    stage_kind,
    submitted_job_file,
    where_ran,
)
from mmbrain.pipeline.stages import GeneratedConfig, Out, Stage, StageConfig, read_record

slurm_cluster = _slurm.slurm_cluster  # the fixture


def test_stage_kinds_and_per_kind_options():
    assert [stage_kind(n) for n in ('world', 'seed0/det_clip', 'seed2/seg_majority-class', 'seed0/gradcam')] == [
        'world',
        'det',
        'seg',
        'gradcam',
    ]
    options = SlurmOptions(
        time_limits={'*': '1:00:00', 'pretrain': '4:00:00', 'seed1/pretrain_clip': '6:00:00'},
        gpus={'ridge': 1},
        cpus_per_task={'det': 8},
    )
    assert options.time_limit('seed0/pretrain_brainformer') == '4:00:00'
    assert options.time_limit('seed1/pretrain_clip') == '6:00:00'
    assert options.time_limit('world') == '1:00:00'
    assert options.stage_gpus('seed0/ridge_clip') == 1
    assert options.stage_gpus('seed0/det_clip', declared=8) == 8
    assert options.stage_cpus('seed0/det_clip') == 8 and options.stage_cpus('world') == 1
    assert SlurmOptions().time_limit('world') is None


def test_job_resources_follow_slurm_train_conventions():
    assert job_resources(0, 2, 8) == ['--nodes=1', '--ntasks=1', '--cpus-per-task=2']
    assert job_resources(4, 5, 8) == [
        '--nodes=1',
        '--ntasks=4',
        '--ntasks-per-node=4',
        '--gres=gpu:4',
        '--cpus-per-task=5',
    ]
    assert job_resources(16, 5, 8)[:4] == ['--nodes=2', '--ntasks=16', '--ntasks-per-node=8', '--gres=gpu:8']
    with pytest.raises(ValueError, match='whole nodes'):
        job_resources(12, 5, 8)


def test_multi_process_commands_become_srun_tasks():
    assert srun_command(['bash', '/r/tools/dist_train.sh', 'cfg.py', '8', '--work-dir', 'out'], python='py') == [
        'srun',
        '--kill-on-bad-exit=1',
        'py',
        '-u',
        '/r/tools/train.py',
        'cfg.py',
        '--launcher',
        'slurm',
        '--work-dir',
        'out',
    ]
    torchrun = ['py', '-m', 'torch.distributed.run', '--nproc_per_node=8', 'mmdet/train.py', 'c.py']
    assert srun_command([*torchrun, '--launcher', 'pytorch', '--work-dir', 'o']) == [
        'srun',
        '--kill-on-bad-exit=1',
        'py',
        '-u',
        'mmdet/train.py',
        'c.py',
        '--launcher',
        'slurm',
        '--work-dir',
        'o',
    ]
    single = ['py', 'tools/test.py', 'c.py', 'ckpt.pth', '--launcher', 'pytorch']
    assert srun_command(single) == single  # one process: run as it is, in the batch step


@pytest.mark.slow
def test_batch_script(tmp_path):
    text = render_batch_script(
        'mmbrain:seed0/det_clip',
        ['python', 'run stage.py', "it's"],
        '/w/det_clip.partial/slurm-%j.log',
        ['--partition=gpu', '--time=4:00:00'],
        '/w',
        env={'OMP_NUM_THREADS': '2'},
    )
    lines = text.splitlines()
    assert lines[0] == '#!/bin/bash'
    assert '#SBATCH --output=/w/det_clip.partial/slurm-%j.log' in lines and '#SBATCH --partition=gpu' in lines
    assert lines[-1] == "exec python 'run stage.py' 'it'\"'\"'s'"
    script = tmp_path / 'job.sh'
    script.write_text(text)
    assert subprocess.run(['bash', '-n', str(script)]).returncode == 0

    # each job its own port, whatever MASTER_PORT the submitting shell exported (sbatch passes it to every job)
    port = tmp_path / 'port.sh'
    port.write_text(render_batch_script('port', ['bash', '-c', 'echo $MASTER_PORT'], '/w/log', [], '/w'))
    env = dict(os.environ, SLURM_JOB_ID='21', MASTER_PORT='29500')
    assert subprocess.run(['bash', str(port)], env=env, capture_output=True, text=True).stdout == '20021\n'


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_executor_arguments(parser)
    args = parser.parse_args(argv)
    return executor_from_args(args, parser)


def test_command_line_options():
    assert _parse() is None  # the local executor
    executor = _parse(
        '--executor',
        'slurm',
        '--partition',
        'gpu',
        '--account',
        'lab',
        '--qos',
        'high',
        '--time-limit',
        '2:00:00',
        'pretrain=1-00:00:00',
        '--stage-gpus',
        'ridge=1',
        '--cpus-per-task',
        '4',
        'det=8',
        '--sbatch-args',
        '--constraint=a100 --mem=64G',
    )
    options = executor.options
    assert (options.partition, options.account, options.qos) == ('gpu', 'lab', 'high')
    assert options.time_limit('seed0/pretrain_clip') == '1-00:00:00' and options.time_limit('world') == '2:00:00'
    assert options.stage_gpus('seed0/ridge_clip') == 1 and options.stage_gpus('seed0/det_clip', 8) == 8
    assert options.stage_cpus('seed1/det_brainformer') == 8 and options.stage_cpus('world') == 4
    assert options.extra_args == ['--constraint=a100', '--mem=64G']
    for bad in (
        ['--time-limit', 'det=two hours'],
        ['--stage-gpus', 'det=-1'],
        ['--cpus-per-task', '0'],
        ['--sbatch-args', '"unclosed'],
    ):
        with pytest.raises(SystemExit) as exit_info:
            _parse('--executor', 'slurm', *bad)
        assert exit_info.value.code == 2, bad


# ------------------------------------------------------------------------------------------------- real cluster
def _script(tmp_path, name: str, body: str) -> str:
    path = tmp_path / f'{name}.sh'
    path.write_text(
        render_batch_script(name, ['bash', '-c', body], str(tmp_path / f'{name}-%j.log'), ['--ntasks=1'], str(tmp_path))
    )
    return str(path)


def _wait(client: SlurmClient, ids, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        states = client.states(ids)
        if not any(s.active for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.3)


@pytest.mark.slow
def test_dependencies_states_and_cancel(slurm_cluster, tmp_path):
    client = SlurmClient(slurm_cluster.env)
    order = tmp_path / 'order'
    first = client.submit(_script(tmp_path, 'first', f'sleep 1; echo first >> {order}'))
    second = client.submit(_script(tmp_path, 'second', f'echo second >> {order}'), [first])
    failing = client.submit(_script(tmp_path, 'failing', 'exit 3'))
    after_failing = client.submit(_script(tmp_path, 'after', f'echo never >> {order}'), [failing])
    sleeper = client.submit(_script(tmp_path, 'sleeper', 'sleep 300'))
    assert client.states([second])[second].state == 'PENDING'
    deadline = time.monotonic() + 30
    while client.states([sleeper])[sleeper].state != 'RUNNING':
        assert time.monotonic() < deadline
        time.sleep(0.2)
    client.cancel([sleeper])
    states = _wait(client, [first, second, failing, after_failing, sleeper])
    assert order.read_text().split() == ['first', 'second']
    assert states[first].succeeded and states[second].succeeded
    assert states[failing].state == 'FAILED' and states[failing].exit_code.startswith('3')
    assert states[after_failing].state == 'CANCELLED'  # --kill-on-invalid-dep: Slurm cancels it
    assert states[sleeper].state == 'CANCELLED'
    assert osp.exists(tmp_path / f'first-{first}.log')
    assert client.states(['999999'])['999999'].state == 'UNKNOWN'


# ------------------------------------------------------------------------- the executor, through a real pipeline
PIPELINE = osp.join(osp.dirname(osp.abspath(__file__)), '_slurm_pipeline.py')


def _start(tmp_path, graph, *options: str) -> subprocess.Popen:
    """The fake pipeline of ``graph`` (see _slurm_pipeline.py) on ``tmp_path/work``, its output in a file."""
    graph_file = tmp_path / 'graph.json'
    graph_file.write_text(json.dumps(graph))
    out = open(tmp_path / f'pipeline-{time.monotonic_ns()}.out', 'w+')
    proc = subprocess.Popen(
        [sys.executable, PIPELINE, str(tmp_path / 'work'), str(graph_file), *options],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.out = out
    return proc


def _finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    proc.wait(timeout)
    proc.out.seek(0)
    text = proc.out.read()
    proc.out.close()
    return text


def _calls(tmp_path):
    path = tmp_path / 'calls'
    return path.read_text().split() if path.exists() else []


def _times(tmp_path):
    rows = (line.split() for line in (tmp_path / 'times').read_text().splitlines())
    return {name: (float(start), float(end)) for name, start, end in rows}


def _wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'not within {timeout:.0f} s: {what}'
        time.sleep(0.1)


def _job_id(folder) -> str:
    """The job that published a stage folder."""
    return read_job_file(str(folder / JOB_ID_FILE))['job_id']


def _submitted_id(folder) -> str:
    """The job submitted for a stage folder that has not succeeded (yet)."""
    return read_job_file(submitted_job_file(str(folder)))['job_id']


@pytest.mark.slow
def test_dependencies_honoured_independent_stages_at_once_then_reused_also_locally(slurm_cluster, tmp_path):
    graph = [
        dict(name='a', seconds=2, replace=True),  # replaces its whole .partial folder, as the world generator
        dict(name='b', seconds=2),
        dict(name='c', inputs=['a', 'b']),
    ]
    proc = _start(tmp_path, graph)
    out = _finish(proc)
    assert proc.returncode == 0, out
    times = _times(tmp_path)
    (a0, a1), (b0, b1), (c0, _) = times['a'], times['b'], times['c']
    assert a0 < b1 and b0 < a1, f'a and b did not run at the same time: {times}'
    assert c0 >= max(a1, b1), f'c started before its inputs ended: {times}'
    work = tmp_path / 'work'
    ids = {name: _job_id(work / name) for name in 'abc'}
    assert len(set(ids.values())) == 3
    for name, job_id in ids.items():
        assert read_record(str(work / name), name) is not None
        assert f'ran {name}' in (work / name / f'slurm-{job_id}.log').read_text()  # the job's output
        assert not osp.exists(submitted_job_file(str(work / name)))
        assert where_ran(str(work / name)) == f'Slurm job {job_id} on {slurm_cluster.host}'
        assert f'{name}: submitted as Slurm job {job_id}' in out
    assert f'submitted as Slurm job {ids["c"]} after {ids["a"]}, {ids["b"]}' in out
    listed = _finish(_start(tmp_path, graph, '--list')).splitlines()
    assert listed == [f'{name}: ran as Slurm job {ids[name]} on {slurm_cluster.host}' for name in 'abc']

    for options in ([], ['--local']):  # a second run submits nothing, nor does a local one: the same identities
        out = _finish(_start(tmp_path, graph, *options))
        assert out.count('unchanged, reusing') == 3 and 'submitted' not in out, out
    assert sorted(_calls(tmp_path)) == ['a', 'b', 'c']


@pytest.mark.slow
def test_failing_stage_cancels_its_dependents(slurm_cluster, tmp_path):
    graph = [
        dict(name='bad', exit=3),
        dict(name='after_bad', inputs=['bad']),
        dict(name='after_after', inputs=['after_bad']),
        dict(name='other', seconds=3),
    ]
    proc = _start(tmp_path, graph)
    out = _finish(proc)
    assert proc.returncode == 1, out
    work = tmp_path / 'work'
    bad_id = _submitted_id(work / 'bad')
    log = work / f'bad.slurm-{bad_id}.log'
    assert f'pipeline: error: bad: Slurm job {bad_id} ended FAILED, exit code 1:0; its log is {log}' in out
    assert 'exited with status 3' in log.read_text()
    assert 'its last ' in out and 'exited with status 3' in out  # the error quotes the end of the job's log
    assert sorted(_calls(tmp_path)) == ['bad', 'other']  # the dependents never ran, the independent one did
    assert 'after_bad: Slurm job' in out and 'cancelled, because bad failed' in out
    assert read_record(str(work / 'other'), 'other') is not None
    for name in ('after_bad', 'after_after'):
        assert not (work / name).exists()
    assert slurm_cluster.jobs() == []


@pytest.mark.slow
def test_sigterm_cancels_the_pipelines_jobs(slurm_cluster, tmp_path):
    graph = [dict(name='s1', seconds=120), dict(name='s2', seconds=120), dict(name='s3', inputs=['s1'])]
    proc = _start(tmp_path, graph)
    _wait_until(lambda: sorted(_calls(tmp_path)) == ['s1', 's2'], 's1 and s2 running')
    assert len(slurm_cluster.jobs()) == 3  # s3 pending on s1
    ids = {name: _submitted_id(tmp_path / 'work' / name) for name in ('s1', 's2', 's3')}
    listed = _finish(_start(tmp_path, graph, '--list')).splitlines()
    assert listed == [
        f's1: Slurm job {ids["s1"]}: RUNNING',
        f's2: Slurm job {ids["s2"]}: RUNNING',
        f's3: Slurm job {ids["s3"]}: PENDING (Dependency)',
    ]
    proc.send_signal(signal.SIGTERM)
    out = _finish(proc, timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert slurm_cluster.jobs() == []  # cancelled before the pipeline exited
    assert not any((tmp_path / 'work' / name).exists() for name in ('s1', 's2', 's3'))


@pytest.mark.slow
def test_restart_after_sigkill_reuses_finished_and_adopts_running_jobs(slurm_cluster, tmp_path):
    graph = [dict(name='first', seconds=2), dict(name='second', inputs=['first'], seconds=8), dict(name='quick')]
    proc = _start(tmp_path, graph)
    work = tmp_path / 'work'
    _wait_until(lambda: 'first' in _calls(tmp_path), 'first running')
    proc.kill()  # no chance to cancel anything
    _finish(proc)
    submitted = {name: _submitted_id(work / name) for name in ('first', 'second')}
    _wait_until(lambda: read_record(str(work / 'first'), 'first') is not None, 'first published by its job')
    # its job leaves the queue just after (COMPLETING); the second runs on after its input, with no pipeline
    _wait_until(lambda: slurm_cluster.jobs() == [submitted['second']], 'only the second job left', timeout=20)

    proc = _start(tmp_path, graph)
    out = _finish(proc)
    assert proc.returncode == 0, out
    assert '[1/3] first: unchanged, reusing' in out
    assert f'second: Slurm job {submitted["second"]} of an earlier pipeline is still there; waiting for it' in out
    assert _job_id(work / 'second') == submitted['second'] and _job_id(work / 'first') == submitted['first']
    assert sorted(_calls(tmp_path)) == ['first', 'quick', 'second']  # nothing ran twice


@pytest.mark.slow
def test_restart_cancels_a_job_that_is_no_longer_wanted(slurm_cluster, tmp_path):
    proc = _start(tmp_path, [dict(name='slow', seconds=120)])
    work = tmp_path / 'work'
    _wait_until(lambda: 'slow' in _calls(tmp_path), 'slow running')
    proc.kill()
    _finish(proc)
    old = _submitted_id(work / 'slow')
    proc = _start(tmp_path, [dict(name='slow', seconds=1)])  # another command: another declaration
    out = _finish(proc)
    assert proc.returncode == 0, out
    assert 'slow: cancelling its job from an earlier pipeline (no longer what is wanted)' in out
    new = _job_id(work / 'slow')
    assert new != old and SlurmClient(slurm_cluster.env).states([old])[old].state == 'CANCELLED'
    assert _calls(tmp_path) == ['slow', 'slow'] and slurm_cluster.jobs() == []


@pytest.mark.slow
def test_multi_gpu_stage_runs_as_srun_tasks(nsd_world, slurm_cluster, tmp_path):
    """A stage of ``dist_train.sh CONFIG 2`` (2 GPUs) becomes a job of two tasks on the cluster's two GPU resources;
    its command runs as ``srun`` tasks with ``--launcher slurm``: one training of two processes (gloo, no CUDA)."""
    from test_tools.test_dist_train import PRETRAIN_CONFIG, REPO, pretrain_options

    command = ['bash', str(REPO / 'tools/dist_train.sh'), GeneratedConfig(), '2', '--work-dir', Out()]
    stage = Stage(
        'pretrain_two',
        'two-process pretraining',
        [command + pretrain_options(nsd_world, 4, 1)],
        root=str(tmp_path / 'work'),
        config=StageConfig(str(PRETRAIN_CONFIG), {'randomness.seed': 0}),
        seed=0,
        gpus=2,
    )
    lines = []
    StageRunner(
        [stage], str(tmp_path / 'work'), log=lines.append, executor=SlurmExecutor(SlurmOptions(poll_seconds=0.3))
    ).run()
    folder = tmp_path / 'work' / 'pretrain_two'
    record = read_record(str(folder), 'pretrain_two')
    assert record['resolved_commands'][0][:4] == ['srun', '--kill-on-bad-exit=1', sys.executable, '-u']
    ran = record['resolved_commands'][0]  # in the .partial folder
    assert ran[4:8] == [
        str(REPO / 'tools/train.py'),
        f'{folder}.partial/generated_config/{PRETRAIN_CONFIG.name}',
        '--launcher',
        'slurm',
    ]
    log = (folder / f'slurm-{_job_id(folder)}.log').read_text()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log, log[-3000:]
    assert (folder / 'epoch_1.pth').exists()
    script = (folder / 'slurm_job.sh').read_text()
    assert '#SBATCH --ntasks=2' in script and '#SBATCH --gres=gpu:2' in script


@pytest.mark.slow
def test_stage_inside_an_inputs_folder_is_submitted_after_it(slurm_cluster, tmp_path):
    """As convert, whose folder is inside the world's: submitted ahead, the world's publication would replace the
    folder holding its spec."""
    graph = [dict(name='outer', seconds=2, replace=True), dict(name='inner', inputs=['outer'], inside='outer')]
    proc = _start(tmp_path, graph)
    out = _finish(proc)
    assert proc.returncode == 0, out
    work = tmp_path / 'work'
    assert (work / 'outer' / 'inner' / 'out.txt').read_text() == 'inner'
    assert read_record(str(work / 'outer'), 'outer') is not None and read_record(str(work / 'outer' / 'inner'), 'inner')
    ids = _job_id(work / 'outer'), _job_id(work / 'outer' / 'inner')
    assert f'inner: submitted as Slurm job {ids[1]}; log' in out  # no dependency left to wait for
    assert out.index('outer: finished') < out.index('inner: submitted')

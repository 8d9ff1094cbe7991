# Copyright (c) mmbrain contributors. All rights reserved.
"""The Slurm executor (mmbrain/pipeline/slurm.py): its sbatch scripts and options, and, against the real one-node
cluster of tests/_slurm.py (skipped where it cannot be started), submission with dependencies, job states and
cancellation."""

import os.path as osp
import subprocess
import time

import _slurm
import pytest

from mmbrain.pipeline.slurm import (
    SlurmClient,
    SlurmOptions,
    job_resources,
    render_batch_script,
    srun_command,
    stage_kind,
)

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

# Copyright (c) mmbrain contributors. All rights reserved.
"""The process tree of a two-rank training stage (``dist_train.sh``, two gloo ranks on CPU) ends with the pipeline
killed by SIGKILL, and a torchrun worker ends with its torchrun agent."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_tools.test_dist_train import PRETRAIN_CONFIG, REPO, free_port, pretrain_options

from ._processes import processes_naming, training_ranks, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc, PR_SET_PDEATHSIG and subreapers'),
]

#: A pipeline of one stage running the command in argv[2] (JSON; "{out}" is the stage folder).
PIPELINE = """import json, sys
from mmbrain.pipeline.runner import StageRunner
from mmbrain.pipeline.stages import Out, Stage
work, command = sys.argv[1], json.loads(sys.argv[2])
command = [Out() if a == "{out}" else a for a in command]
StageRunner([Stage("train", "two ranks", [command], root=work)], work).run()
"""


def _training(nsd_world, tmp_path: Path):
    work = str(tmp_path / 'work')
    command = ['bash', str(REPO / 'tools/dist_train.sh'), str(PRETRAIN_CONFIG), '2', '--work-dir', '{out}']
    command += pretrain_options(nsd_world, 4, 50)  # 50 epochs: minutes, killed long before
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    env.pop('PYTHON', None)  # the stage gets the pipeline's interpreter
    return work, command, env


def _kill_leftovers(work: str) -> None:
    for pid in processes_naming(work):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_pipeline_killed_during_two_rank_training_leaves_no_rank(nsd_world, tmp_path):
    work, command, env = _training(nsd_world, tmp_path)
    log = open(tmp_path / 'pipeline.log', 'w+')
    pipeline = subprocess.Popen(
        [sys.executable, '-c', PIPELINE, work, json.dumps(command)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        started = wait_for(lambda: len(training_ranks(work)) == 2 or pipeline.poll() is not None, 120)
        log.seek(0)
        assert started and pipeline.poll() is None, log.read()[-3000:]
        # training under way: both ranks past the rendezvous, writing the stage's log
        assert wait_for(lambda: 'Epoch(train)' in open(os.path.join(work, 'train.partial', 'stage.log')).read(), 180)
        pipeline.kill()  # SIGKILL: no handler of the pipeline runs
        pipeline.wait(30)
        assert wait_for(lambda: not processes_naming(work), 30), [
            open(f'/proc/{p}/cmdline').read() for p in processes_naming(work)
        ]
    finally:
        pipeline.kill()
        _kill_leftovers(work)
        log.close()


def test_a_torchrun_worker_ends_with_its_agent(nsd_world, tmp_path):
    """Without the pipeline: torchrun killed by SIGKILL takes its workers along (tools/train.py asks the kernel)."""
    work, command, env = _training(nsd_world, tmp_path)
    command = [work if a == '{out}' else a for a in command]
    env['PYTHON'] = sys.executable
    log = open(tmp_path / 'torchrun.log', 'w+')
    agent = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: len(training_ranks(work)) == 2 or agent.poll() is not None, 120)
        log.seek(0)
        assert agent.poll() is None, log.read()[-3000:]
        assert wait_for(lambda: 'Epoch(train)' in open(tmp_path / 'torchrun.log').read(), 180)  # both ranks in main
        agent.kill()  # bash exec'd torchrun: this is the agent
        agent.wait(30)
        assert wait_for(lambda: not training_ranks(work), 30)
    finally:
        agent.kill()
        _kill_leftovers(work)
        log.close()

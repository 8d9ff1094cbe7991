# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/dist_train.sh and tools/dist_test.sh with two CPU processes (gloo) through mmengine's Runner.

Two processes of batch B match one process of batch 2B: the same contrastive loss at every iteration (it gathers
both processes' features, so rank 0 logs the loss of the whole batch) and the same weights after a few iterations
(DistributedDataParallel averages the gradients; the guidance loss, local to each sample, is logged by mmengine as
rank 0's mean, so it is checked through the weights). The two-process run is killed mid-training and resumed.
Evaluation with two processes gives the retrieval metrics of one.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
import torch

from mmbrain.utils.checkpoint import load_checkpoint_safely

REPO = Path(__file__).resolve().parents[2]
PRETRAIN_CONFIG = REPO / 'configs/pretrain/brainformer_convnext-mini_1xb32-coslr-4e_synthetic.py'
ENCODING_CONFIG = REPO / 'configs/encoding/voxel-readout_convnext-mini-rand-init_1xb32-20e_synthetic-nsd-subj08.py'
BATCH, ROWS, EPOCHS = 4, 16, 3  # per process; 2 iterations per epoch at 2 x 4 = 8 samples per step
# Adam divides by sqrt(v) + eps: with the default eps a gradient that is zero up to rounding (attention over a
# single window) still moves a weight by up to the learning rate, in a random direction. A larger eps leaves
# those weights still, so the weights of two runs can be compared.
ADAM_EPS = 'optim_wrapper.optimizer.eps=1e-4'
# How long a tool run may take before it counts as hung: a guard, not a speed target (benchmarks/ has those). A run
# of a few seconds on a quiet machine takes minutes on a loaded one; the suite's own per-test limit is 900 s.
HANG_SECONDS = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def tool_env(**extra: str) -> Dict[str, str]:
    """The environment of a tool run: the repository on PYTHONPATH, this interpreter for the shell scripts."""
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        OMP_NUM_THREADS='1',
        PYTHONPATH=f'{REPO}{os.pathsep}' + os.environ.get('PYTHONPATH', ''),
    )
    env.update(extra)
    return env


def launch(args, cwd: Path, **env: str) -> subprocess.Popen:
    """A tool run, its output going to a file in ``cwd`` (read, and closed, by :func:`output`)."""
    log = open(cwd / f'run-{time.monotonic_ns()}.out', 'w+')
    proc = subprocess.Popen(
        [str(a) for a in args], cwd=str(cwd), env=tool_env(**env), stdout=log, stderr=subprocess.STDOUT, text=True
    )
    proc.log = log
    return proc


def output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    text = proc.log.read()
    proc.log.close()
    return text


def finish(proc: subprocess.Popen, timeout: float = HANG_SECONDS) -> str:
    """The output of a tool run that exits 0 within ``timeout`` seconds; a hung run is killed with its children,
    so that it does not slow every later test, and fails the test with its output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait()
        pytest.fail(f'still running after {timeout} s, killed: {proc.args}\n{output(proc)[-4000:]}')
    out = output(proc)
    assert proc.returncode == 0, out[-4000:]
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (torchrun starts each worker in a session of its own, so a
    process-group kill would miss them)."""

    def children(p):
        try:
            with open(f'/proc/{p}/task/{p}/children') as f:
                return [int(c) for c in f.read().split()]
        except FileNotFoundError:
            return []

    todo, found = [pid], []
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children(p))
    for p in found:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def dist_train(config: Path, work_dir: Path, procs: int, *extra, **env) -> subprocess.Popen:
    return launch(
        ['bash', REPO / 'tools/dist_train.sh', config, procs, '--work-dir', work_dir, *extra],
        work_dir.parent,
        PORT=str(free_port()),
        **env,
    )


def pretrain_options(world, batch: int, epochs: int):
    data = 'train_dataloader.dataset'
    return [
        '--no-validate',
        '--cfg-options',
        f'{data}.data_root={world.converted_dir}',
        f'{data}.stimuli_file={world.stimuli_file}',
        f'{data}.subjects={world.subjects}'.replace(' ', ''),
        f'{data}.indices={ROWS}',
        f'train_dataloader.batch_size={batch}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        ADAM_EPS,
    ]


def logged(work_dir: Path) -> Dict[int, Dict]:
    """Iteration -> logged scalars, over every run in the work dir (later runs win)."""
    rows = {}
    for log in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in log.read_text().splitlines():
            row = json.loads(line)
            if 'loss' in row:
                rows[row['step']] = row
    return rows


def state(path: Path) -> Dict[str, torch.Tensor]:
    return load_checkpoint_safely(str(path))['state_dict']


def assert_same_training(ours: Path, theirs: Path, since: Path, rtol: float = 1e-3) -> None:
    """``ours`` and ``theirs`` hold the same weights, to within ``rtol`` of how far ``theirs`` moved from ``since``
    (a wrong update, e.g. a lost optimiser state, moves the weights by about the update itself)."""
    a, b, c = state(ours), state(theirs), state(since)
    assert a.keys() == b.keys()
    keys = [k for k in a if a[k].is_floating_point()]
    diff = sum((a[k].double() - b[k].double()).square().sum() for k in keys).sqrt()
    moved = sum((b[k].double() - c[k].double()).square().sum() for k in keys).sqrt()
    assert moved > 0 and diff <= rtol * moved, f'weights differ by {diff:.3g}, {diff / moved:.2%} of the update'


def written_files(work_dir: Path):
    return sorted(str(p.relative_to(work_dir)) for p in work_dir.rglob('*') if p.is_file())


@pytest.fixture(scope='module')
def single(nsd_world, tmp_path_factory) -> Path:
    """One process, batch 2B, EPOCHS epochs (the reference the two-process runs must match)."""
    work_dir = tmp_path_factory.mktemp('single') / 'work'
    finish(
        launch(
            [
                sys.executable,
                REPO / 'tools/train.py',
                PRETRAIN_CONFIG,
                '--work-dir',
                work_dir,
                *pretrain_options(nsd_world, 2 * BATCH, EPOCHS),
            ],
            work_dir.parent,
        )
    )
    return work_dir


@pytest.mark.slow
def test_two_processes_match_one_and_resume(nsd_world, single, tmp_path):
    work_dir = tmp_path / 'work'
    run = dist_train(PRETRAIN_CONFIG, work_dir, 2, *pretrain_options(nsd_world, BATCH, 50))
    deadline = time.time() + HANG_SECONDS
    while not (work_dir / 'last_checkpoint').exists():  # written after epoch_1.pth is complete
        assert run.poll() is None, f'training died:\n{output(run)[-4000:]}'
        if time.time() > deadline:
            kill_tree(run.pid)
            pytest.fail(f'no checkpoint within {HANG_SECONDS} s:\n{output(run)[-4000:]}')
        time.sleep(0.05)
    kill_tree(run.pid)  # torchrun and both workers, no chance to clean up
    run.wait(timeout=30)
    output(run)
    first = Path((work_dir / 'last_checkpoint').read_text().strip())
    meta = load_checkpoint_safely(str(first))['meta']
    assert meta['epoch'] < EPOCHS, 'the run was not killed before the end'

    out = finish(dist_train(PRETRAIN_CONFIG, work_dir, 2, '--resume', *pretrain_options(nsd_world, BATCH, EPOCHS)))
    assert f'resumed epoch: {meta["epoch"]}, iter: {meta["iter"]}' in out
    assert 'Distributed training is not used' not in out

    # the same whole-batch loss at every iteration, before and after the kill, and the same weights at the end
    ours, theirs = logged(work_dir), logged(single)
    assert sorted(theirs) == list(range(1, EPOCHS * ROWS // (2 * BATCH) + 1))
    assert set(theirs) <= set(ours)
    for step, ref in theirs.items():
        assert ours[step]['loss_con'] == pytest.approx(ref['loss_con'], rel=1e-5), step
    assert_same_training(work_dir / f'epoch_{EPOCHS}.pth', single / f'epoch_{EPOCHS}.pth', single / 'epoch_1.pth')

    # rank 0 alone writes logs and checkpoints: one log per run, no per-rank files
    files = written_files(work_dir)
    logs = [f for f in files if f.endswith('.log')]
    assert len(logs) == 2 and not any('rank' in f for f in files), files
    assert {f'epoch_{e}.pth' for e in range(1, EPOCHS + 1)} <= set(files)


@pytest.mark.slow
def test_dist_test_matches_test(nsd_world, single, tmp_path):
    checkpoint = single / f'epoch_{EPOCHS}.pth'
    loader = 'test_dataloader'
    options = [
        '--cfg-options',
        f'{loader}.dataset.data_root={nsd_world.converted_dir}',
        f'{loader}.dataset.stimuli_file={nsd_world.stimuli_file}',
        f'{loader}.dataset.subjects={nsd_world.subjects}'.replace(' ', ''),
        f'{loader}.num_workers=0',
        f'{loader}.persistent_workers=False',
        f'{loader}.batch_size={BATCH}',
    ]
    one, two = tmp_path / 'one.json', tmp_path / 'two.json'
    procs = [
        launch(
            [
                sys.executable,
                REPO / 'tools/test.py',
                PRETRAIN_CONFIG,
                checkpoint,
                '--work-dir',
                tmp_path / 'w1',
                '--out',
                one,
                *options,
            ],
            tmp_path,
        ),
        launch(
            [
                'bash',
                REPO / 'tools/dist_test.sh',
                PRETRAIN_CONFIG,
                checkpoint,
                2,
                '--work-dir',
                tmp_path / 'w2',
                '--out',
                two,
                *options,
            ],
            tmp_path,
            PORT=str(free_port()),
        ),
    ]
    for proc in procs:
        finish(proc)
    m1, m2 = json.loads(one.read_text()), json.loads(two.read_text())
    assert 'retrieval/img2brain_top1' in m1 and m1.keys() == m2.keys()
    for key, value in m1.items():
        assert m2[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_dist_train_downstream_encoding(nsd_world, tmp_path):
    """The voxel readout (frozen backbone, DistributedDataParallel over the head alone): two processes of batch B
    end with the weights of one of 2B."""
    subject = nsd_world.subjects[-1]
    subject_file = nsd_world.converted_file(subject, averaged=True)
    data = 'train_dataloader.dataset'
    options = [
        '--no-validate',
        '--cfg-options',
        f'{data}.data_root={nsd_world.averaged_dir}',
        f'{data}.stimuli_file={nsd_world.stimuli_file}',
        f'{data}.subjects=[{subject}]',
        f'{data}.indices=16',
        f'model.head.num_voxels={subject_file}',
        'model.head.dropout=0.',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=2',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.max_keep_ckpts=2',
        ADAM_EPS,
    ]
    one, two = tmp_path / 'one' / 'work', tmp_path / 'two' / 'work'
    for d in (one, two):
        d.parent.mkdir()
    procs = [
        launch(
            [
                sys.executable,
                REPO / 'tools/train.py',
                ENCODING_CONFIG,
                '--work-dir',
                one,
                *options,
                'train_dataloader.batch_size=8',
            ],
            one.parent,
        ),
        dist_train(ENCODING_CONFIG, two, 2, *options, 'train_dataloader.batch_size=4'),
    ]
    for proc in procs:
        finish(proc)
    assert_same_training(two / 'epoch_2.pth', one / 'epoch_2.pth', one / 'epoch_1.pth')

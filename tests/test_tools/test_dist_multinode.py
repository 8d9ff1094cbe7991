# Copyright (c) mmbrain contributors. All rights reserved.
"""The README's multi-node launches on this machine, one CPU process per "node" or task.

``tools/dist_train.sh`` with ``NNODES`` / ``NODE_RANK`` / ``MASTER_ADDR`` / ``PORT`` (each node with its own work
dir, as without a shared file system: only rank 0's gets logs and checkpoints), and ``tools/slurm_train.sh`` with
two tasks under the real ``srun`` of a one-node Slurm cluster on localhost (``tests/_slurm.py``; skipped where it
cannot be started).
"""

from pathlib import Path

import _slurm
import pytest

from test_tools.test_dist_train import PRETRAIN_CONFIG, REPO, finish, free_port, launch, pretrain_options, written_files

slurm_cluster = _slurm.slurm_cluster  # the fixture


def _one_run_by_rank_0(work_dir: Path, out: str) -> None:
    assert 'Distributed training: True' in out and 'GPU number: 2' in out, out[-3000:]
    files = written_files(work_dir)
    assert 'epoch_1.pth' in files and sum(f.endswith('.log') for f in files) == 1, files
    assert not any('rank' in f for f in files), files


@pytest.mark.slow
def test_dist_train_two_nodes(nsd_world, tmp_path):
    port = str(free_port())
    options = pretrain_options(nsd_world, 4, 1)
    nodes = []
    for rank in (0, 1):
        work_dir = tmp_path / f'node{rank}'
        nodes.append(
            launch(
                ['bash', REPO / 'tools/dist_train.sh', PRETRAIN_CONFIG, 1, '--work-dir', work_dir, *options],
                tmp_path,
                NNODES='2',
                NODE_RANK=str(rank),
                MASTER_ADDR='127.0.0.1',
                PORT=port,
            )
        )
    outs = [finish(node) for node in nodes]
    _one_run_by_rank_0(tmp_path / 'node0', outs[0])
    assert written_files(tmp_path / 'node1') == []  # rank 1 writes no log, checkpoint or config


@pytest.mark.slow
def test_slurm_train_two_tasks(nsd_world, slurm_cluster, tmp_path):
    """Two tasks under the real ``srun`` of the local cluster (one node, ``--gres=gpu:2``, a CPU each; no CUDA, so
    gloo): one training."""
    work_dir = tmp_path / 'work'
    out = finish(
        launch(
            [
                'bash',
                REPO / 'tools/slurm_train.sh',
                slurm_cluster.partition,
                'mmbrain-test',
                PRETRAIN_CONFIG,
                work_dir,
                *pretrain_options(nsd_world, 4, 1),
            ],
            tmp_path,
            GPUS='2',
            GPUS_PER_NODE='2',
            CPUS_PER_TASK='1',
            MASTER_PORT=str(free_port()),
            SLURM_CONF=slurm_cluster.conf,
        ),
        timeout=300,
    )
    _one_run_by_rank_0(work_dir, out)

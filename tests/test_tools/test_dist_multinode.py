# Copyright (c) mmbrain contributors. All rights reserved.
"""The README's multi-node launches, as two "nodes" of one CPU process each on this machine.

``tools/dist_train.sh`` with ``NNODES`` / ``NODE_RANK`` / ``MASTER_ADDR`` / ``PORT`` (each node with its own work
dir, as without a shared file system: only rank 0's gets logs and checkpoints), and ``tools/slurm_train.sh`` under
a stand-in ``srun`` (and ``scontrol``) that starts the tasks with the ``SLURM_*`` variables Slurm sets.
"""

import os
import stat
import sys
from pathlib import Path

import pytest

from test_tools.test_dist_train import PRETRAIN_CONFIG, REPO, finish, free_port, launch, pretrain_options, written_files

FAKE_SRUN = r"""#!/usr/bin/env bash
# Stand-in for Slurm's srun: run the command --ntasks times here, with the variables srun sets for each task.
ntasks=1; per_node=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ntasks=*) ntasks=${1#*=} ;;
    --ntasks-per-node=*) per_node=${1#*=} ;;
    -p|-J|--partition|--job-name) shift ;;
    -*) ;;
    *) break ;;
  esac
  shift
done
pids=()
for ((i = 0; i < ntasks; i++)); do
  SLURM_PROCID=$i SLURM_NTASKS=$ntasks SLURM_LOCALID=$((i % per_node)) SLURM_NODEID=$((i / per_node)) \
  SLURM_NNODES=$(((ntasks + per_node - 1) / per_node)) SLURM_NODELIST=node[0-1] SLURM_JOB_ID=1 "$@" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
"""
FAKE_SCONTROL = """#!/usr/bin/env bash
# Stand-in for `scontrol show hostname NODELIST`: both "nodes" are this machine.
echo 127.0.0.1
echo 127.0.0.1
"""


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
def test_slurm_train_two_nodes(nsd_world, tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    work_dir = tmp_path / 'work'
    out = finish(
        launch(
            [
                'bash',
                REPO / 'tools/slurm_train.sh',
                'cpu',
                'mmbrain-test',
                PRETRAIN_CONFIG,
                work_dir,
                *pretrain_options(nsd_world, 4, 1),
            ],
            tmp_path,
            GPUS='2',
            GPUS_PER_NODE='1',
            MASTER_PORT=str(free_port()),
            PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
            PYTHON=sys.executable,
        )
    )
    _one_run_by_rank_0(work_dir, out)

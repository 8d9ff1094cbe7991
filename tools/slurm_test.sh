#!/usr/bin/env bash
# Evaluation under Slurm: bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# (--help: the variables it reads; tools/_launch_common.sh: how the interpreter is chosen).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
mmbrain_args 4 'bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]' \
"Evaluates CHECKPOINT with srun in PARTITION, e.g.
  GPUS=8 bash tools/slurm_test.sh gpu eval configs/pretrain/brainformer_convnext-s.py work_dirs/bf/epoch_100.pth
$MMBRAIN_SRUN_HELP" "$@"
mmbrain_srun "$1" "$2" test.py "$3" "$4" --launcher=slurm "${@:5}"

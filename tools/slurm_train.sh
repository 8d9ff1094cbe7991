#!/usr/bin/env bash
# Training under Slurm: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# (--help: the variables it reads; tools/_launch_common.sh: how the interpreter is chosen).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
mmbrain_args 4 'bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]' \
"Trains CONFIG with srun in PARTITION, logs and checkpoints in WORK_DIR, e.g.
  GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh gpu brainformer configs/pretrain/brainformer_convnext-s.py work_dirs/bf
$MMBRAIN_SRUN_HELP" "$@"
mmbrain_srun "$1" "$2" train.py "$3" --work-dir="$4" --launcher=slurm "${@:5}"

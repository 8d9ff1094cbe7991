#!/usr/bin/env bash
# Distributed evaluation on one node with torchrun: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# (--help: the variables it reads; tools/_launch_common.sh: how the interpreter is chosen).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
mmbrain_args 3 'bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]' \
"Evaluates CHECKPOINT with GPUS processes on this node (torchrun as \$PYTHON -m torch.distributed.run,
--launcher pytorch). Multi-node: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500)." "$@"
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHONPATH="$MMBRAIN_TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" --master_port="$PORT" \
  "$MMBRAIN_TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"

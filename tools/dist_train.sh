#!/usr/bin/env bash
# Distributed training on one node with torchrun: bash tools/dist_train.sh CONFIG GPUS [train.py options]
# (--help: the variables it reads; tools/_launch_common.sh: how the interpreter is chosen).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
mmbrain_args 2 'bash tools/dist_train.sh CONFIG GPUS [train.py options]' \
"Trains CONFIG with GPUS processes on this node (torchrun as \$PYTHON -m torch.distributed.run, --launcher pytorch),
e.g. bash tools/dist_train.sh configs/pretrain/brainformer_convnext-s.py 8
Multi-node: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500) on every node." "$@"
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHONPATH="$MMBRAIN_TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" --master_port="$PORT" \
  "$MMBRAIN_TOOLS/train.py" "$CONFIG" --launcher pytorch "${@:3}"

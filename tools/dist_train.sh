#!/usr/bin/env bash
# Distributed training on one node with torchrun: bash tools/dist_train.sh CONFIG GPUS [train.py options]
#   e.g. bash tools/dist_train.sh configs/pretrain/brainformer_convnext-s.py 8
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. torchrun is run as `$PYTHON -m torch.distributed.run` (PYTHON
# defaults to the python on PATH, e.g. PYTHON=.venv/bin/python).
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" --master_port="$PORT" \
  "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"

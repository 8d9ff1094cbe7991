#!/usr/bin/env bash
# The GPU check (docs/performance.md): on a bare GPU machine with a CUDA PyTorch and no network,
#   bash benchmarks/gpu_check.sh --wheels DIR [--reference PATH] [--out gpu_check.json] [--budget 450]
# installs the pure-Python wheels of DIR (mmengine, mmcv-lite, mmpretrain and their small dependencies) into a
# temporary folder put on PYTHONPATH, then runs benchmarks/gpu_check.py, which writes one JSON (versions, every
# phase's figures, a summary and the targets met). `--dry-run` runs the same phases at tiny sizes on the CPU.
# PYTHON picks the interpreter (default python3).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
WHEELS=""
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --wheels) WHEELS="${2:?--wheels needs a folder}"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [[ -n "$WHEELS" ]]; then
  shopt -s nullglob
  wheels=("$WHEELS"/*.whl)
  if [[ ${#wheels[@]} -eq 0 ]]; then
    echo "gpu_check.sh: no .whl files in $WHEELS" >&2
    exit 2
  fi
  SITE="${TMPDIR:-/tmp}/mmbrain-gpu-check-site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "${wheels[@]}"
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PY" "$REPO/benchmarks/gpu_check.py" "${ARGS[@]}"

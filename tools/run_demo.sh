#!/usr/bin/env bash
# The main job of the README: sets up whatever is missing (tools/setup_env.sh), then runs the whole Brainformer
# method on the synthetic NSD world from the repository folder (data/ and work_dirs/ there) and writes
# work_dirs/demo/report.md. Arguments go to tools/run_pipeline.py (e.g. --list, --redo all, --seeds 0 1 2; the null
# world: --world-args '--snr 0' --work-dir work_dirs/null-world).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/setup_env.sh"
cd "$REPO"
exec "${MMBRAIN_VENV:-$REPO/.venv}/bin/python" tools/run_pipeline.py "$@"

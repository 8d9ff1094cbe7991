#!/usr/bin/env bash
# The test command of the README: sets up whatever is missing (tools/setup_env.sh), checks the code with ruff (lint
# and format, configured in pyproject.toml), then runs the whole suite on the CPU. Extra arguments go to pytest,
# e.g. `bash tools/run_tests.sh tests/test_datasets -x`.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/setup_env.sh"
PY="${MMBRAIN_VENV:-$REPO/.venv}/bin/python"
cd "$REPO"
RUFF="$(dirname "$PY")/ruff"
"$RUFF" check mmbrain tools tests benchmarks
"$RUFF" format --check mmbrain tools tests benchmarks
# Exit status 5 (no test collected) is a failure, like any other non-zero status.
exec "$PY" -m pytest tests -q -ra --timeout=900 "$@"

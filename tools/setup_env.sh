#!/usr/bin/env bash
# Set up (or check) mmbrain's Python environment, from nothing, idempotently.
#
#   bash tools/setup_env.sh            # creates .venv/ in the repo, installs everything still missing
#
# Environment variables:
#   MMBRAIN_VENV=DIR        where the virtual environment lives (default: <repo>/.venv)
#   MMBRAIN_PYTHON=python3  the interpreter that creates it
#   MMBRAIN_SKIP_TORCH=1    keep the torch/torchvision already importable in the venv (GPU users with their own
#                           CUDA build: create the venv, install torch, then run this script)
#   MMBRAIN_WHEEL_CACHE=DIR where the compiled mmcv wheel is cached (default: ~/.cache/mmbrain/wheels); the wheel
#                           is keyed by the torch version it was built against, so it is never reused under another
#   MAX_JOBS=N              parallel compile jobs for mmcv's ops (default: number of cores)
#
# A second run finds everything in place (a stamp over the requirement files) and returns in about a second.
set -euo pipefail

case "${1-}" in
  -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) printf 'usage: bash tools/setup_env.sh   (no arguments; its settings are environment variables: see --help)\n' >&2
     exit 2 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMBRAIN_VENV:-$REPO/.venv}"
PY_BOOT="${MMBRAIN_PYTHON:-python3}"
WHEEL_CACHE="${MMBRAIN_WHEEL_CACHE:-$HOME/.cache/mmbrain/wheels}"
MMCV_VERSION=2.1.0

log() { printf '[setup_env] %s\n' "$*" >&2; }

stamp_of() {
  cat "$REPO"/requirements/*.txt "$REPO/setup.py" "$REPO/tools/setup_env.sh" | sha1sum | cut -d' ' -f1
}
STAMP_FILE="$VENV/.mmbrain-setup-stamp"
if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$(stamp_of)" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY_BOOT" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q -r "$REPO/requirements/build.txt"

if [ "${MMBRAIN_SKIP_TORCH:-0}" = "1" ]; then
  "$PY" -c "import torch, torchvision" || { log "MMBRAIN_SKIP_TORCH=1 but torch/torchvision are not importable in $VENV"; exit 1; }
  log "keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  log "installing torch/torchvision (requirements/torch.txt)"
  "${PIP[@]}" install -q -r "$REPO/requirements/torch.txt"
fi
TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')"

# mmcv with compiled ops, built once per torch version and cached as a wheel.
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
  CACHE_DIR="$WHEEL_CACHE/torch-$TORCH_VERSION"
  WHEEL="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$WHEEL" ]; then
    BUILD_DIR="$(mktemp -d)"
    trap 'rm -rf "$BUILD_DIR"' EXIT
    log "building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION (once; 15-20 min on 2 cores)"
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
    # torch>=2.4 headers require C++20; mmcv 2.1.0's setup.py hard-codes -std=c++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD_DIR/mmcv-$MMCV_VERSION/setup.py"
    (cd "$BUILD_DIR/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel -q --no-deps --no-build-isolation . -w "$BUILD_DIR/dist")
    mkdir -p "$CACHE_DIR"
    built="$(ls "$BUILD_DIR"/dist/mmcv-*.whl)"
    cp "$built" "$CACHE_DIR/.partial.whl" && mv "$CACHE_DIR/.partial.whl" "$CACHE_DIR/$(basename "$built")"
    WHEEL="$CACHE_DIR/$(basename "$built")"
  else
    log "using cached $WHEEL"
  fi
  "${PIP[@]}" install -q --no-deps "$WHEEL"
  # mmcv's own runtime requirements (installed without deps above).
  "${PIP[@]}" install -q addict packaging Pillow pyyaml yapf opencv-python-headless
fi

log "installing the OpenMMLab stack, runtime and test requirements, and mmbrain (editable)"
"${PIP[@]}" install -q -r "$REPO/requirements/mminstall.txt" -r "$REPO/requirements/runtime.txt" \
  -r "$REPO/requirements/optional.txt" -r "$REPO/requirements/tests.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$REPO"

"$PY" -c "import mmbrain, mmcv.ops, mmdet.models, mmseg.models, mmpretrain.models" \
  || { log "the environment does not import the full stack"; exit 1; }
stamp_of > "$STAMP_FILE"
log "environment ready: $VENV"

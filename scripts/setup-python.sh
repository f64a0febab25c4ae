#!/usr/bin/env bash
# Creates .venv (git-ignored) on top of the system Python that has torch (Debian: apt install python3-torch),
# and installs the pinned small packages from src/training/python/requirements.txt (those marked '# no-deps'
# with pip --no-deps). torchvision, like torch, comes from the system (Debian python3-torchvision).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${DECLIP_SYSTEM_PYTHON:-/usr/bin/python3}"
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "error: $PY cannot import torch. On Debian/Ubuntu: sudo apt-get install -y python3-torch python3-venv" >&2
  echo "       (or point DECLIP_SYSTEM_PYTHON at a python that has torch)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv --system-site-packages .venv
fi
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
  echo "error: $PY cannot import torchvision (timm needs it, for tests/test_parity_timm.py). On Debian/Ubuntu:" >&2
  echo "       sudo apt-get install -y --no-install-recommends python3-torchvision (or bash scripts/system-deps.sh);" >&2
  echo "       elsewhere the torchvision built for your torch (PyPI's would replace torch)" >&2
  exit 1
fi
# Lines marked '# no-deps' (timm) go through pip --no-deps, so that pip never pulls PyPI's torch over the system's;
# everything else is a plain pinned `pip install -r`.
REQ=src/training/python/requirements.txt
TMP_REQ="$(mktemp -d)"
trap 'rm -rf "$TMP_REQ"' EXIT
grep -v -e '# no-deps' "$REQ" >"$TMP_REQ/deps.txt" || true
grep -e '# no-deps' "$REQ" | grep -v -e '^[[:space:]]*#' >"$TMP_REQ/no-deps.txt" || true
.venv/bin/pip install -q --disable-pip-version-check -r "$TMP_REQ/deps.txt"
if [ -s "$TMP_REQ/no-deps.txt" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r "$TMP_REQ/no-deps.txt"
fi
.venv/bin/python -c 'import torch, onnx, onnxruntime, pytest, timm; print("python env ok: torch", torch.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__, "timm", timm.__version__)'

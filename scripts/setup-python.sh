#!/usr/bin/env bash
# Creates .venv (git-ignored) on top of the system Python that has torch (Debian: apt install python3-torch),
# and installs the pinned small packages from src/training/python/requirements.txt.
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
.venv/bin/pip install -q --disable-pip-version-check -r src/training/python/requirements.txt
.venv/bin/python -c 'import torch, onnx, onnxruntime, pytest; print("python env ok: torch", torch.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__)'

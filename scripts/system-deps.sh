#!/usr/bin/env bash
# Installs the system packages the tests need on Debian/Ubuntu, only if something is missing:
#   python3-torch (Debian's CPU torch 1.13, for the exporter/trainer tests) and python3-torchvision (for timm),
#   python3-venv,
#   a C++ toolchain for better-sqlite3, which builds from source when no prebuilt binary matches,
#   libopenblas0-pthread (fast BLAS for torch), and chromium (headless) for the report screenshot test.
set -euo pipefail
need=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
# Debian's torchvision built for that torch: timm needs it (tests/test_parity_timm.py); PyPI's would replace torch
/usr/bin/python3 -c 'import torchvision' 2>/dev/null || need+=(python3-torchvision)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
# an optimised BLAS for Debian's torch (the reference BLAS is about 10x slower on the exporter/trainer tests)
[ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ] || [ "$(uname -m)" != x86_64 ] || need+=(libopenblas0-pthread)
# headless Chromium: screenshot check of the evaluation report (scripts/report-screenshot.sh)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "error: missing system packages: ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2; exit 1
  fi
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

#!/usr/bin/env bash
# npm ci when node_modules is missing or older than package-lock.json. .npmrc skips onnxruntime-node's
# CUDA download (offline-safe); rclnodejs is optional and only builds where ROS 2 is sourced.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

#!/usr/bin/env bash
# CPU benchmarks (never tests): compiles bench/ and runs each one; prints median timings and writes
# out/bench/<name>.txt. Usage: npm run bench [-- synth geometry perception bag metrics]
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(synth geometry perception bag metrics)
npx tsc -p tsconfig.json --outDir out/bench-build >/dev/null
mkdir -p out/bench
for n in "${names[@]}"; do
  echo "== $n ($(date -u +%FT%TZ), $(nproc) cores, $(uname -m), node $(node --version), commit $(git rev-parse --short HEAD))"
  NODE_PATH="$PWD/node_modules" node "out/bench-build/bench/$n.bench.js" | tee "out/bench/$n.txt"
done

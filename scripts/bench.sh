#!/usr/bin/env bash
# CPU benchmarks (never tests): compiles bench/ and runs each one; prints median timings and writes
# out/bench/<name>.txt. Usage: npm run bench [-- synth geometry perception bag metrics pipeline]
# pipeline (bench/pipeline.bench.ts, end to end through the node) takes options from PIPELINE_BENCH_ARGS, e.g.
#   PIPELINE_BENCH_ARGS="--model out/models/b16-224 --size 224" npm run bench -- pipeline   (--help lists them)
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(synth geometry perception bag metrics pipeline)
npx tsc -p tsconfig.json --outDir out/bench-build >/dev/null
mkdir -p out/bench
for n in "${names[@]}"; do
  echo "== $n ($(date -u +%FT%TZ), $(nproc) cores, $(uname -m), node $(node --version), commit $(git rev-parse --short HEAD))"
  extra=()
  [ "$n" = pipeline ] && read -r -a extra <<<"${PIPELINE_BENCH_ARGS:-}"
  NODE_PATH="$PWD/node_modules" node "out/bench-build/bench/$n.bench.js" "${extra[@]}" | tee "out/bench/$n.txt"
done

#!/usr/bin/env bash
# Every test: set-up (system packages, npm ci, Python venv) then build, typecheck, lint, jest, pytest and a short soak.
# Ends with one summary line "N passed, M failed", and names every step that failed (a step can fail with every
# test passing: a type error in the soak build once did).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh || exit 1
bash scripts/node-deps.sh || exit 1
bash scripts/setup-python.sh || exit 1
mkdir -p out/test
failed_steps=()
step() {
  local name=$1
  shift
  "$@" || failed_steps+=("$name")
}
step build npm run -s build
step typecheck npm run -s typecheck
step lint npm run -s lint
step jest npx jest --ci --json --outputFile=out/test/jest.json ${JEST_ARGS:-}
step pytest .venv/bin/python -m pytest src/training/python/tests -q --junitxml=out/test/pytest.xml
step soak bash -c 'npm run -s soak -- --duration 60 --frames 20 --out out/test/soak.json >/dev/null'
step summary node scripts/test-summary.js out/test/jest.json out/test/pytest.xml
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "failed steps: ${failed_steps[*]}"
  exit 1
fi

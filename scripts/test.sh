#!/usr/bin/env bash
# Every test: set-up (system packages, npm ci, Python venv) then build, typecheck, lint, jest and pytest.
# Ends with one summary line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh || exit 1
bash scripts/node-deps.sh || exit 1
bash scripts/setup-python.sh || exit 1
mkdir -p out/test
rc=0
npm run -s build || rc=1
npm run -s typecheck || rc=1
npm run -s lint || rc=1
npx jest --ci --json --outputFile=out/test/jest.json ${JEST_ARGS:-} || rc=1
.venv/bin/python -m pytest src/training/python/tests -q --junitxml=out/test/pytest.xml || rc=1
npm run -s soak -- --duration 60 --frames 20 --out out/test/soak.json >/dev/null || rc=1
node scripts/test-summary.js out/test/jest.json out/test/pytest.xml || rc=1
exit $rc

#!/usr/bin/env bash
# The demo: set-up (npm ci), build, then replay the bundled bag with the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/node-deps.sh
npm run -s build
node dist/cli/main.js demo "$@"

#!/usr/bin/env bash
# Screenshot of an evaluation report (report.html from `declip eval run`) with headless Chromium, to check it
# renders in a browser.  Usage: scripts/report-screenshot.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
# Chromium comes from scripts/system-deps.sh (Debian package `chromium`); set CHROMIUM=/path to override.
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: $0 REPORT.html OUT.png [WIDTH] [HEIGHT]" >&2; exit 2; fi
html=$1
png=$2
w=${3:-1280}
h=${4:-1800}
if [ ! -f "$html" ]; then echo "error: report not found: $html" >&2; exit 3; fi
chrome=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$chrome" ]; then
  echo "error: headless Chromium not found; install it with: apt-get install -y chromium (see scripts/system-deps.sh)" >&2
  exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$png"
# --no-sandbox: CI containers run as root; the page is a local, self-contained file.
timeout 120 "$chrome" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
  --no-first-run --user-data-dir="$profile" --window-size="$w,$h" --screenshot="$png" \
  "file://$(realpath "$html")" >/dev/null 2>&1 || true
if [ ! -s "$png" ]; then echo "error: Chromium wrote no screenshot to $png" >&2; exit 1; fi
echo "$png"

#!/usr/bin/env bash
# One-time set-up on a fresh machine (idempotent): system programs, a virtual environment, the package.
#   bash scripts/setup.sh            # then: . .venv/bin/activate
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng speaks the test footage; ffmpeg's CLI checks rotated videos in one test; Debian's chromium is the
# browser the web demo's tests drive with Playwright (never `playwright install`, which downloads a browser).
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first, pinned to the CPU build this machine carries; a bare `torch` could pull a multi-GB CUDA build
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[test]'

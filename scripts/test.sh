#!/usr/bin/env bash
# Install the test requirements (Chromium included) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh requirements-test.txt
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/espeak-ng ]; then  # espeak-ng: the spoken test streams
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium espeak-ng >/dev/null
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q --timeout 600 "$@"

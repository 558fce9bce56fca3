#!/usr/bin/env bash
# Install the test requirements (Chromium and PostgreSQL included) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh requirements-test.txt
# PostgreSQL: the run store's tests run on it too (tests/support/postgres.py starts a throwaway cluster; Debian keeps
# initdb under /usr/lib/postgresql/*/bin)
have_postgres() { command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/espeak-ng ] || ! have_postgres; then  # espeak-ng: spoken streams
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium espeak-ng postgresql >/dev/null
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q --timeout 600 "$@"

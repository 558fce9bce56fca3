#!/usr/bin/env bash
# Create .venv, install a requirements file and the project (editable) into it; skipped when that file has not changed since.
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(basename "$req")"
sum=$(cat requirements*.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  .venv/bin/python -m pip install --upgrade --quiet pip
  .venv/bin/python -m pip install --quiet -r "$req"
  # the project itself, editable: `core`, `ui` and `benchmarks` import from anywhere, no sys.path edits
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$sum" > "$stamp"
fi

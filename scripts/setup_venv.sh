#!/usr/bin/env bash
# Create .venv and install a requirements file into it; skipped when that file has not changed since.
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(basename "$req")"
sum=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  .venv/bin/python -m pip install --upgrade --quiet pip
  .venv/bin/python -m pip install --quiet -r "$req"
  echo "$sum" > "$stamp"
fi

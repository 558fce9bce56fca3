#!/usr/bin/env bash
# Install everything into .venv (first time only) and start DL Studio on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh requirements.txt
exec .venv/bin/python -m streamlit run app.py --server.port "${PORT:-8501}"

#!/usr/bin/env bash
# Install everything into .venv (first time only) and start DL Studio on http://localhost:8501.
# It listens on this machine only; DLSTUDIO_ADDRESS=0.0.0.0 serves every interface (see README: Serving it to others).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh requirements.txt
exec .venv/bin/python -m streamlit run app.py --server.port "${PORT:-8501}" \
    --server.address "${DLSTUDIO_ADDRESS:-127.0.0.1}"

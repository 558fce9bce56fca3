"""The headless Chromium the end-to-end tests and the browser benchmarks drive: Debian's, offline."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("DLSTUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

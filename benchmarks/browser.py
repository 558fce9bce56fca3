"""The real app served on a free port and the headless Chromium that drives it, offline: what the end-to-end tests,
the browser benchmarks and scripts/screenshots.py share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DLSTUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class AppDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_command(port: int, app: str = "app.py") -> list[str]:
    """`streamlit run` on this machine only, headless."""
    return [sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip


def app_env(home: Path) -> dict[str, str]:
    """The app's own run store and user-data folder under `home`."""
    return {**os.environ, "DLSTUDIO_RUNS": str(home / "runs"), "DLSTUDIO_USER_DATA": str(home / "user_data")}


def wait_until_up(url: str, timeout: float = 90, poll: float = 0.3) -> bool:
    """Whether the server's health check answered within `timeout` seconds."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            return True
        except OSError:
            time.sleep(poll)
    return False


@contextmanager
def serve_app(home: Path, timeout: float = 90) -> Iterator[str]:
    """The app served from this checkout with its own store under `home`; yields its URL, stops it after."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = home / f"server-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(app_command(port), cwd=ROOT, env=app_env(home), stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            if not wait_until_up(url, timeout):
                raise AppDidNotStart(f"the app did not start in {timeout:.0f} s:\n{log_path.read_text()}")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

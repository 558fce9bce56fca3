"""App cold start: seconds from `streamlit run app.py` to the home page's first render in headless Chromium.

Chromium starts first (its own start is not the app's); then the clock starts with the server process, the
page is opened as soon as the server answers its health check, and the clock stops when the home page shows
its demo cards ("Open ..." links) and its "Latest runs" heading. Each repeat is a fresh server on a free port
with an empty run store.

    .venv/bin/python benchmarks/cold_start.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, app_command, app_env, free_port

ROOT = Path(__file__).resolve().parents[1]


def one_start(browser, tmp: Path, app: str = "app.py") -> dict[str, float]:
    """Start a server, open the home page; seconds to the health check, to first paint and to the full page."""
    port = free_port()
    env, cmd = app_env(tmp), app_command(port, app)
    log = (tmp / f"server-{port}.log").open("w")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                if time.perf_counter() - start > 90:
                    raise SystemExit(f"the app did not start: {log.name}") from None
                time.sleep(0.05)
        healthy = time.perf_counter() - start
        page = browser.new_page()
        page.goto(url)
        page.get_by_text("Open Image recognition").wait_for(timeout=90_000)
        cards = time.perf_counter() - start
        page.get_by_text("Latest runs").wait_for(timeout=90_000)
        page.get_by_text("PyTorch").first.wait_for(timeout=90_000)
        full = time.perf_counter() - start
        page.close()
        return {"server_up": healthy, "home_cards": cards, "home_complete": full}
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for i in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="dlstudio-cold-") as tmp:
                rows.append(one_start(browser, Path(tmp)))
            print(f"start {i + 1}: " + "  ".join(f"{k} {v:.2f}s" for k, v in rows[-1].items()), flush=True)
        browser.close()
    print(f"\n| measure | median s (of {len(rows)}) | min s | max s |\n|---|---|---|---|")
    for key in rows[0]:
        values = [r[key] for r in rows]
        print(f"| {key} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()

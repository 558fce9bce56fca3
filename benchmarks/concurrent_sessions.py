"""Eight browser sessions start a training run at once: does every page keep answering, do all runs finish?

Starts `streamlit run app.py` on a free port with its own run store, opens N headless Chromium contexts on
the image page (through a shared link that sets the epochs), measures page interactions while idle, then
clicks Train in every session at the same moment and keeps interacting until every page shows its results.
An interaction is a real one: switch the Dataset selectbox (digits <-> faces) and wait until the page shows
the new data's caption; its time runs from the click on the option to the new text on screen.

    .venv/bin/python benchmarks/concurrent_sessions.py [--sessions 8] [--epochs 5] [--model cnn_bn]

Prints a Markdown table (and writes it to --out); the server's memory is read from /proc (VmRSS sampled
every 0.2 s, and the kernel's high-water mark VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from playwright.async_api import TimeoutError as PlaywrightTimeout

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, app_command, app_env, free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[1]

INTERACTION_TIMEOUT = 60  # seconds without an answer count as a frozen page
SHOTS = Path(tempfile.gettempdir()) / "dlstudio-bench-shots"
SWITCH = {"digits": ("faces", "2 classes ·"), "faces": ("digits", "10 classes ·")}


def start_server(runs: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(app_command(port), cwd=ROOT, env=app_env(runs.parent), stdout=log.open("w"),
                            stderr=subprocess.STDOUT)  # fmt: skip
    if wait_until_up(f"http://127.0.0.1:{port}", 90):
        return proc
    proc.kill()
    raise SystemExit(f"the app did not start:\n{log.read_text()}")


TICKS = os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds so far) of every process this user can read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) ": state ppid ... utime stime
        table[int(entry.name)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def kind_of(pid: int, table: dict, server: int) -> str:
    """ "server", "training workers" (the server's descendants), "browsers" (Chromium) or "other"."""
    if pid == server:
        return "server"
    parent, cmd, _ = table[pid]
    seen = set()
    while parent and parent not in seen:
        if parent == server:
            return "training workers"
        seen.add(parent)
        parent = table.get(parent, (0, "", 0))[0]
    return "browsers" if "chromium" in cmd or "chrome" in cmd else "other"


class MemorySampler(threading.Thread):
    """Samples the server's resident memory (MB), and every process's CPU time by kind, until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.running = pid, [], True
        self.cpu: dict[int, list] = {}  # pid -> [kind, [(time, CPU seconds so far), ...]]

    def status(self, field: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MB
        return float("nan")

    def run(self) -> None:
        tick = 0
        while self.running:
            self.samples.append((time.time(), self.status("VmRSS")))
            if tick % 3 == 0:
                self.sample_cpu()
            tick += 1
            time.sleep(0.2)

    def sample_cpu(self) -> None:
        now, table = time.time(), process_table()
        for pid, (_, _, seconds) in table.items():
            if pid not in self.cpu:
                self.cpu[pid] = [kind_of(pid, table, self.pid), []]
            self.cpu[pid][1].append((now, seconds))

    def cpu_between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each kind of process used between two times (read from /proc every 0.6 s)."""
        totals: dict[str, float] = {}
        for kind, series in self.cpu.values():
            inside = [sec for t, sec in series if start <= t <= end]
            before = [sec for t, sec in series if t < start]
            if inside:
                used = inside[-1] - (before[-1] if before else inside[0])
                totals[kind] = totals.get(kind, 0.0) + used
        return totals


def watch_server(page, state: dict) -> None:
    """Timestamps of the page's full-script reruns on its websocket: each rerun the browser asks for (BackMsg
    rerun_script, not a fragment's) and each complete script run the server reports (script_finished)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    state["asked"], state["answered"] = [], []

    def sent(payload) -> None:
        if isinstance(payload, bytes):
            msg = BackMsg.FromString(payload)
            if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
                state["asked"].append(time.perf_counter())

    def received(payload) -> None:
        if isinstance(payload, bytes) and len(payload) < 4096:  # script_finished is a few bytes; skip the big deltas
            msg = ForwardMsg.FromString(payload)
            if msg.WhichOneof("type") == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                state["answered"].append(time.perf_counter())

    def on_websocket(ws) -> None:
        ws.on("framesent", sent)
        ws.on("framereceived", received)

    page.on("websocket", on_websocket)


def server_seconds(state: dict, since: float) -> float:
    """The server's part of the last interaction: from the browser asking for the rerun to the script's end."""
    asked = [t for t in state["asked"] if t >= since]
    answered = [t for t in state["answered"] if asked and t >= asked[0]]
    return answered[0] - asked[0] if answered else float("nan")


async def switch_dataset(page, state: dict) -> float:
    """One interaction: pick the other dataset, wait for its caption. Returns seconds (inf if it never came); the
    server's share goes to state["server"]."""
    target, caption = SWITCH[state["dataset"]]
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset")
    start = time.perf_counter()
    try:
        await box.click(timeout=INTERACTION_TIMEOUT * 1000)
        start = time.perf_counter()
        await page.get_by_role("option", name=target, exact=True).click(timeout=INTERACTION_TIMEOUT * 1000)
        await page.get_by_text(caption).first.wait_for(timeout=INTERACTION_TIMEOUT * 1000)
    except PlaywrightTimeout as exc:
        shot = SHOTS / f"stuck-{id(page)}-{int(time.time())}.png"
        await page.screenshot(path=str(shot))
        step = str(exc).splitlines()[0][:160]
        asked = sum(t >= start for t in state["asked"])  # did the browser ask the server for the rerun at all?
        answered = sum(t >= start for t in state["answered"])
        print(
            f"an interaction got no answer in {INTERACTION_TIMEOUT} s ({step}); the page sent {asked} rerun "
            f"request(s) and got {answered} finished script run(s) since the click; screenshot {shot}",
            file=sys.stderr,
        )
        await page.keyboard.press("Escape")
        state["server"].append(float("nan"))
        state["dataset"] = "digits" if await page.get_by_text("10 classes ·").count() else "faces"
        return float("inf")
    state["dataset"] = target
    state["server"].append(server_seconds(state, start))
    return time.perf_counter() - start


async def session(i: int, browser, url: str, go: asyncio.Event, ready: list, out: dict, idle_rounds: int) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    page = await context.new_page()
    page.on("console", lambda m: m.type == "error" and print(f"session {i} console: {m.text[:300]}", file=sys.stderr))
    page.on("pageerror", lambda e: print(f"session {i} page error: {str(e)[:300]}", file=sys.stderr))
    page.set_default_timeout(120_000)
    state = {"dataset": "digits", "server": []}
    watch_server(page, state)
    await page.goto(url)
    await page.get_by_text("1 · Data").wait_for()
    for _ in range(idle_rounds):  # page interactions with nothing training
        out["idle"].append(await switch_dataset(page, state))
        await asyncio.sleep(random.uniform(0.2, 0.6))
    out["idle_server"] += state["server"]
    state["server"] = []
    ready.append(i)
    await go.wait()
    clicked = time.perf_counter()
    train = page.get_by_role("button", name="Train", exact=True)
    await train.click()
    # Training has begun once Stop shows (or the run already finished). A click the page never acted on
    # is counted and repeated, as a person would.
    started = page.get_by_role("button", name="Stop", exact=True).or_(page.get_by_text("Confusion matrix"))
    while True:
        try:
            await started.first.wait_for(timeout=INTERACTION_TIMEOUT * 1000)
            break
        except PlaywrightTimeout:
            out["lost_clicks"].append(i)
            print(f"session {i}: Train not acted on in {INTERACTION_TIMEOUT} s; clicking again", file=sys.stderr)
            await train.click()
    results = page.get_by_text("Confusion matrix (test split)")
    while not await results.count():
        out["busy"].append(await switch_dataset(page, state))
        out["busy_server"].append(state["server"][-1] if state["server"] else float("nan"))
        await asyncio.sleep(random.uniform(0.3, 1.0))
    out["done_after"].append(time.perf_counter() - clicked)
    await context.close()


async def drive(base: str, sessions: int, epochs: int, model: str, idle_rounds: int) -> dict:
    from playwright.async_api import async_playwright

    SHOTS.mkdir(exist_ok=True)

    out: dict = {"idle": [], "busy": [], "idle_server": [], "busy_server": [], "done_after": [], "lost_clicks": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Warm the server once (first imports of torch and the page modules) before the timed sessions.
        warm = await browser.new_page()
        await warm.goto(base)
        await warm.get_by_text("Latest runs").wait_for(timeout=120_000)
        await warm.close()
        go, ready = asyncio.Event(), []
        url = f"{base}/image?model={model}&epochs={epochs}&dataset=digits"  # a shared link sets the run up
        tasks = [asyncio.create_task(session(i, browser, url, go, ready, out, idle_rounds)) for i in range(sessions)]
        while len(ready) < sessions:
            await asyncio.sleep(0.1)
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()
        out["train_start"] = time.time()
        go.set()
        await asyncio.gather(*tasks)
        out["train_end"] = time.time()
        await browser.close()
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def server_percentile(values: list[float], q: float) -> float:
    """Over the interactions whose rerun was seen on the websocket (nan: not seen)."""
    seen = [v for v in values if np.isfinite(v)]
    return float(np.percentile(seen, q)) if seen else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", default="cnn_bn")
    parser.add_argument("--idle-rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "concurrent_sessions.md"))
    args = parser.parse_args()

    from core.run.store import RunStore

    tmp = Path(tempfile.mkdtemp(prefix="dlstudio-bench-"))
    port = free_port()
    server = start_server(tmp / "runs", port, tmp / "server.log")
    sampler = MemorySampler(server.pid)
    sampler.start()
    try:
        started = time.time()
        base = f"http://127.0.0.1:{port}"
        result = asyncio.run(drive(base, args.sessions, args.epochs, args.model, args.idle_rounds))
        wall = time.time() - started
    finally:
        sampler.running = False
        peak_hwm = sampler.status("VmHWM")
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    runs = RunStore(tmp / "runs").list()
    finished = [r for r in runs if r["status"] == "finished"]
    before = [mb for t, mb in sampler.samples if t < result["train_start"]]
    during = [mb for t, mb in sampler.samples if result["train_start"] <= t <= result["train_end"]]
    workers = os.environ.get("DLSTUDIO_WORKERS", "2")
    span = result["train_end"] - result["train_start"]
    cpu = sampler.cpu_between(result["train_start"], result["train_end"])
    summary = {
        "sessions": args.sessions,
        "model": args.model,
        "epochs": args.epochs,
        "workers": int(workers),
        "cpus": os.cpu_count(),
        "interactions_idle": len(result["idle"]),
        "idle_p50_s": percentile(result["idle"], 50),
        "idle_p95_s": percentile(result["idle"], 95),
        "interactions_training": len(result["busy"]),
        "training_p50_s": percentile(result["busy"], 50),
        "training_p95_s": percentile(result["busy"], 95),
        "training_max_s": max(result["busy"], default=float("nan")),
        "idle_server_p50_s": server_percentile(result["idle_server"], 50),
        "idle_server_p95_s": server_percentile(result["idle_server"], 95),
        "training_server_p50_s": server_percentile(result["busy_server"], 50),
        "training_server_p95_s": server_percentile(result["busy_server"], 95),
        "server_timed": int(sum(np.isfinite(v) for v in result["idle_server"] + result["busy_server"])),
        "unanswered": sum(1 for x in result["idle"] + result["busy"] if x == float("inf")),
        "lost_train_clicks": len(result["lost_clicks"]),
        "runs_in_store": len(runs),
        "runs_finished": len(finished),
        "all_results_shown_after_s": max(result["done_after"]),
        "rss_before_training_mb": max(before, default=float("nan")),
        "rss_peak_sampled_mb": max(during, default=float("nan")),
        "rss_peak_vmhwm_mb": peak_hwm,
        "wall_s": wall,
        "training_phase_s": span,
        "cpu_seconds_while_training": cpu,
    }
    shares = " · ".join(
        f"{kind} {sec:.0f} s ({sec / span:.2f} cores)" for kind, sec in sorted(cpu.items(), key=lambda kv: -kv[1])
    )
    table = "\n".join(
        [
            f"{args.sessions} Chromium sessions each train `{args.model}` on digits for {args.epochs} epochs at once "
            f"({workers} training workers, {os.cpu_count()} CPUs; server, browsers and training share them).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| page interaction, idle: p50 / p95 ({summary['interactions_idle']} interactions) | "
            f"{summary['idle_p50_s']:.2f} s / {summary['idle_p95_s']:.2f} s |",
            f"| page interaction while the {args.sessions} runs train: p50 / p95 / max "
            f"({summary['interactions_training']} interactions) | {summary['training_p50_s']:.2f} s / "
            f"**{summary['training_p95_s']:.2f} s** / {summary['training_max_s']:.2f} s |",
            f"| the server's part (rerun asked → script finished, on the websocket): idle p50 / p95 | "
            f"{summary['idle_server_p50_s']:.2f} s / {summary['idle_server_p95_s']:.2f} s |",
            f"| the server's part while the runs train: p50 / p95 | {summary['training_server_p50_s']:.2f} s / "
            f"**{summary['training_server_p95_s']:.2f} s** |",
            f"| interactions with no answer within {INTERACTION_TIMEOUT} s | {summary['unanswered']} |",
            f"| Train clicks not acted on within {INTERACTION_TIMEOUT} s (clicked again) | "
            f"{summary['lost_train_clicks']} |",
            f"| runs finished and in the store | **{len(finished)} / {args.sessions}** ({len(runs)} in the store) |",
            f"| last page showing its results, after the clicks | {summary['all_results_shown_after_s']:.0f} s |",
            f"| server memory before training (RSS) | {summary['rss_before_training_mb']:.0f} MB |",
            f"| server peak memory (RSS high-water mark) | **{peak_hwm:.0f} MB** |",
            f"| CPU time while the runs train ({span:.0f} s, {os.cpu_count()} cores) | {shares} |",
        ]
    )
    print(table)
    print(json.dumps(summary))
    Path(args.out).write_text(
        "# Concurrent sessions\n\n`.venv/bin/python benchmarks/concurrent_sessions.py`\n\n" + table + "\n"
    )
    if len(finished) != args.sessions:
        raise SystemExit(f"only {len(finished)} of {args.sessions} runs finished; server log: {tmp / 'server.log'}")


if __name__ == "__main__":
    main()

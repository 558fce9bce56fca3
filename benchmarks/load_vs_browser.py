"""Does the protocol client time what the Chromium benchmark times? One Chromium tab and one protocol session on one
server, both switching the image page's dataset, every rerun timed four ways.

    .venv/bin/python -m benchmarks.load_vs_browser [--rounds 25]

For the tab: the whole interaction (click -> new caption on screen), the server's part as
benchmarks/concurrent_sessions.py reads it (Playwright's frame events, stamped when they reach Python), the same
frames stamped by Chromium's network layer (CDP Network.webSocketFrame*), and the server's own clock
(benchmarks/server_clock: the rerun request handled -> script_finished queued). For the protocol session: its wire
time and the server's clock. All websocket recordings go through one decoder (benchmarks.load.replay).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import tempfile
import time
from pathlib import Path

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, serve_app
from benchmarks.concurrent_sessions import switch_dataset, watch_server
from benchmarks.load import Session, pctl, replay, rerun_timings, server_clock, with_server_clock

ROOT = Path(__file__).resolve().parents[1]
LINK = "model=cnn_bn&epochs=5&dataset=digits"


def changes(events: list) -> list[float]:
    return [t.seconds for t in rerun_timings(events) if t.label == "change"]


async def chromium(url: str, rounds: int, ready: asyncio.Event, out: dict) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 1600})
        page = await context.new_page()
        by_cdp: list = []
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        for event, sent in (("Network.webSocketFrameSent", True), ("Network.webSocketFrameReceived", False)):
            cdp.on(event, lambda e, sent=sent: e["response"]["opcode"] == 2 and by_cdp.append(
                (e["timestamp"], sent, base64.b64decode(e["response"]["payloadData"]))))  # fmt: skip
        state = {"dataset": "digits", "server": []}
        watch_server(page, state)
        await page.goto(f"{url}/image?{LINK}")
        await page.get_by_text("1 · Data").wait_for(timeout=120_000)
        ready.set()
        out["tab: click -> new caption on screen"] = [await _click(page, state) for _ in range(rounds)]
        await asyncio.sleep(1)
        out["tab: the benchmark's server part (Playwright events)"] = state["server"]
        seen = replay(by_cdp, "image")
        out["tab: the same, Chromium's network clock (CDP)"] = changes(seen.events)
        out["tab"] = seen.session_id
        await browser.close()


async def _click(page, state: dict) -> float:
    seconds = await switch_dataset(page, state)
    await asyncio.sleep(random.uniform(0.3, 1.0))
    return seconds


async def protocol(url: str, rounds: int, ready: asyncio.Event, out: dict) -> None:
    async def person(session: Session) -> None:
        await session.rerun("load")
        await ready.wait()
        for _ in range(rounds):
            session.switch_dataset()
            await session.rerun("change")
            await asyncio.sleep(random.uniform(0.3, 1.0))

    session = Session(url, "image", LINK)
    await session.run(person)
    out["protocol session: on its websocket"] = changes(session.page.events)
    out["protocol session"] = session.page.session_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dlstudio-load-vs-browser-"))
    clock = with_server_clock(home)
    out: dict = {}
    started = time.time()
    with serve_app(home) as url:

        async def both() -> None:
            ready = asyncio.Event()
            await asyncio.gather(chromium(url, args.rounds, ready, out), protocol(url, args.rounds, ready, out))

        asyncio.run(both())
    names = {out.pop("tab"): "tab", out.pop("protocol session"): "protocol session"}
    for session, events in server_clock(clock).items():
        out[f"{names.get(session, session)}: the server's own clock"] = changes(events)
    print(f"One Chromium tab and one protocol session, {args.rounds} dataset switches each, {time.ctime(started)}; "
          f"load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| rerun timed by | n | p50 | p95 |\n|---|---|---|---|")
    for name, values in out.items():
        print(f"| {name} | {len(values)} | {pctl(values, 50):.3f} s | {pctl(values, 95):.3f} s |")


if __name__ == "__main__":
    main()

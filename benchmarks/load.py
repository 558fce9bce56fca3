"""Load you can measure on two cores: simulated sessions speak Streamlit's websocket protocol, with no browser.

Each session opens `/_stcore/stream` as a page does and sends the same `BackMsg` rerun requests: the widget
states the page holds (read from the `ForwardMsg` deltas, as the front end does), the fragments' timed reruns
(`auto_rerun`), the hashes of the big messages it already has (so the server sends references, as to a browser).
A session "clicks like a person": it switches the image page's Dataset (digits <-> faces, as
benchmarks/concurrent_sessions.py does in Chromium), waits for the answer, thinks 2-5 s, and again; a share of
the sessions first clicks Train. An interaction's time is the server's part: from the rerun request sent to the
`script_finished` of the first full script run that began after it. Nothing is drawn, so the machine's cores go
to the server and the training.

    .venv/bin/python -m benchmarks.load --sessions 1,8,16,32,64 --training 8 [--seconds 60] [--epochs 50]

One fresh server per level (`benchmarks.browser.serve_app`, its own run store). Prints a Markdown table (and
writes it to --out) and one JSON line per level; --profile SECONDS records the server of the largest level with
py-spy and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
ANSWER_TIMEOUT = 60.0  # seconds without an answer count as a lost rerun
CACHE_AGE = 2  # script runs a cached big message is kept (the front end's default, global.maxCachedMessageAge)
FULL_RUN_DONE = ForwardMsg.FINISHED_SUCCESSFULLY
SWITCH = {"digits": "faces", "faces": "digits"}


# ---- the pure core: a page's state from its ForwardMsg stream, and rerun timings from its events ----


def widget_state(element) -> WidgetState | None:
    """The value a page sends for a widget element, as the front end first sets it (None: not a valued widget)."""
    kind = element.WhichOneof("type")
    w = getattr(element, kind)
    state = WidgetState(id=getattr(w, "id", ""))
    if not state.id:
        return None
    if kind in ("selectbox", "radio"):
        if w.set_value and w.HasField("raw_value"):
            state.string_value = w.raw_value
        elif w.HasField("default"):
            state.string_value = w.options[w.default]
        else:
            return None
    elif kind == "number_input":
        value = w.value if w.set_value else w.default
        if w.data_type == w.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    elif kind == "checkbox":
        state.bool_value = w.value if w.set_value else w.default
    elif kind == "slider" and not w.options:
        state.double_array_value.data.extend(w.value if w.set_value else w.default)
    elif kind in ("text_input", "text_area"):
        if w.set_value:
            state.string_value = w.value
        elif w.HasField("default"):
            state.string_value = w.default
        else:
            return None
    else:  # buttons send a trigger only when clicked; widgets this client does not drive send nothing
        return None
    return state


def media_urls(element) -> list[str]:
    """The files a browser fetches to show an element: st.image's pictures, st.audio's and st.video's file."""
    kind = element.WhichOneof("type")
    if kind == "imgs":
        return [img.url for img in element.imgs.imgs if img.url.startswith("/")]
    if kind in ("audio", "video"):
        url = getattr(element, kind).url
        return [url] if url.startswith("/") else []
    return []


def widget_key(widget_id: str) -> str:
    """The `key=` a widget was given: Streamlit's element ids end with it ("$$ID-<hash>-image_dataset")."""
    return widget_id.split("-", 2)[-1]


@dataclass
class PageState:
    """What a page holds between reruns, kept from the ForwardMsgs it receives, and the events of its stream:
    (time, "ask", label) for a full rerun requested, (time, "start" | "finish", script_run_id) for a full script
    run begun and finished successfully, (time, "fragment", "") for a fragment run finished."""

    page_name: str
    query_string: str = ""
    page_script_hash: str = ""
    session_id: str = ""  # the server's id of this session (its first new_session says)
    widgets: dict[str, WidgetState] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # key -> element id of every widget drawn, buttons too
    seen: set[str] = field(default_factory=set)  # widget ids drawn by the current full run
    auto_reruns: dict[str, float] = field(default_factory=dict)  # fragment id -> seconds between its reruns
    cache: dict[str, list] = field(default_factory=dict)  # hash -> [message, script runs since it was seen]
    media: list[str] = field(default_factory=list)  # URLs of images, sounds and videos drawn, not fetched yet
    events: list[tuple[float, str, str]] = field(default_factory=list)

    def receive(self, msg: ForwardMsg, t: float) -> None:
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":  # a big message this page already has: the server sent only its hash
            msg = self.cache[msg.ref_hash][0]
            kind = msg.WhichOneof("type")
        elif msg.metadata.cacheable:
            self.cache[msg.hash] = [msg, 0]
        run = msg.metadata.run
        if kind == "navigation":  # st.navigation names the page that ran (new_session names the main script)
            self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "new_session":
            self.session_id = self.session_id or msg.new_session.initialize.session_id
            if not run.fragment_ids:  # a full run: the page forgets its timers and which widgets it shows
                self.auto_reruns.clear()
                self.seen = set()
                self.events.append((t, "start", run.script_run_id))
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            w = getattr(element, element.WhichOneof("type"))
            self.media += media_urls(element)
            if getattr(w, "id", ""):
                self.ids[widget_key(w.id)] = w.id
            state = widget_state(element)
            if state is not None:
                if state.id not in self.widgets or getattr(w, "set_value", False):
                    self.widgets[state.id] = state
                self.seen.add(state.id)
        elif kind == "auto_rerun":
            self.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fragment in msg.stop_auto_rerun.fragment_ids:
                self.auto_reruns.pop(fragment, None)
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "script_finished":
            self._script_finished(msg, t)

    def _script_finished(self, msg: ForwardMsg, t: float) -> None:
        for entry in self.cache.values():
            entry[1] += 1
        self.cache = {h: e for h, e in self.cache.items() if e[1] <= CACHE_AGE}
        run = msg.metadata.run
        if run.fragment_ids:
            self.events.append((t, "fragment", ""))
        elif msg.script_finished == FULL_RUN_DONE:
            self.widgets = {i: s for i, s in self.widgets.items() if i in self.seen}  # widgets no longer shown
            self.events.append((t, "finish", run.script_run_id))

    def widget_id(self, key: str) -> str:
        return self.ids[key]

    def rerun_request(self, url: str, fragment_id: str = "", triggers: tuple[str, ...] = ()) -> BackMsg:
        """The BackMsg a page sends to rerun (its first load too), with every widget's state and `triggers`
        (button keys) clicked."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query_string
        state.widget_states.widgets.extend(self.widgets.values())
        for key in triggers:
            state.widget_states.widgets.add(id=self.widget_id(key), trigger_value=True)
        if self.page_script_hash:
            state.page_script_hash = self.page_script_hash
        else:
            state.page_name = self.page_name
        if fragment_id:
            state.fragment_id, state.is_auto_rerun = fragment_id, True
        state.cached_message_hashes.extend(self.cache)
        info = state.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url, info.is_embedded, info.color_scheme = f"{url}/{self.page_name}", False, "light"
        return msg

    def asked(self, t: float, label: str) -> None:
        self.events.append((t, "ask", label))


@dataclass
class Timing:
    label: str  # "load", "change", "train"
    asked: float
    seconds: float  # inf: no answer within the timeout


def rerun_timings(events: list[tuple[float, str, str]], timeout: float = ANSWER_TIMEOUT) -> list[Timing]:
    """Each full rerun asked, answered by the first full script run that began at or after the ask and finished
    successfully (a run the ask interrupted does not count; asks made while one run was on its way are answered
    together by the run after them)."""
    pending: list[tuple[float, str]] = []
    started: dict[str, float] = {}
    out = []
    for t, kind, arg in sorted(events, key=lambda e: e[0]):
        if kind == "ask":
            pending.append((t, arg))
        elif kind == "start":
            started[arg] = t
        elif kind == "finish" and arg in started:
            out += [Timing(label, at, t - at) for at, label in pending if at <= started[arg]]
            pending = [(at, label) for at, label in pending if at > started[arg]]
    out += [Timing(label, at, math.inf) for at, label in pending]
    for timing in out:
        if timing.seconds > timeout:
            timing.seconds = math.inf
    return sorted(out, key=lambda x: x.asked)


def replay(frames: list[tuple[float, bool, bytes]], page_name: str) -> PageState:
    """A page's state after a recorded stream: (time, sent by the page?, payload) frames of one websocket."""
    page = PageState(page_name)
    for t, sent, payload in frames:
        if not sent:
            page.receive(ForwardMsg.FromString(payload), t)
            continue
        msg = BackMsg.FromString(payload)
        if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
            clicked = any(w.WhichOneof("value") == "trigger_value" for w in msg.rerun_script.widget_states.widgets)
            page.asked(t, "train" if clicked else "change" if msg.rerun_script.page_script_hash else "load")
    return page


# ---- the protocol client: one simulated session ----


class Session:
    """One page on the websocket: sends reruns, keeps its PageState from the stream, runs its fragments' timers."""

    def __init__(self, url: str, page_name: str, query: str, media: bool = True) -> None:
        self.url, self.page, self.media = url, PageState(page_name, query_string=query), media
        self.timers: dict[str, tuple[float, asyncio.Task]] = {}
        self.finished = asyncio.Event()  # set at every successful full run's end
        self.ws = None
        self.fetched: list[int] = []  # HTTP status of each media file fetched
        self.fetching: set[asyncio.Task] = set()

    async def run(self, body) -> None:
        from websockets.asyncio.client import connect

        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        async with connect(
            ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=120, ping_interval=None
        ) as ws:
            self.ws = ws
            reader = asyncio.create_task(self._read())
            try:
                await body(self)
            finally:
                reader.cancel()
                for _, task in self.timers.values():
                    task.cancel()

    async def _read(self) -> None:
        async for frame in self.ws:
            self.page.receive(ForwardMsg.FromString(frame), time.perf_counter())
            if self.page.events and self.page.events[-1][1] == "finish":
                self.finished.set()
            self._sync_timers()
            for path in self.page.media if self.media else ():  # as a browser does while the run goes on
                task = asyncio.create_task(self._fetch(path))
                self.fetching.add(task)
                task.add_done_callback(self.fetching.discard)
            self.page.media.clear()

    async def _fetch(self, path: str) -> None:
        """GET a media file from the server (one connection each; the body is read and dropped)."""
        host, port = self.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        status = await reader.readline()
        await reader.read()
        writer.close()
        self.fetched.append(int(status.split()[1]))

    def _sync_timers(self) -> None:
        """The front end's auto-rerun timers: one per fragment, replaced when its interval changes."""
        for fragment, (interval, task) in list(self.timers.items()):
            if self.page.auto_reruns.get(fragment) != interval:
                task.cancel()
                del self.timers[fragment]
        for fragment, interval in self.page.auto_reruns.items():
            if fragment not in self.timers:
                self.timers[fragment] = (interval, asyncio.create_task(self._tick(fragment, interval)))

    async def _tick(self, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.ws.send(self.page.rerun_request(self.url, fragment).SerializeToString())

    async def rerun(self, label: str, triggers: tuple[str, ...] = ()) -> float:
        """Ask for a full rerun and wait for its answer; returns the seconds (inf: none within the timeout)."""
        self.finished.clear()
        msg = self.page.rerun_request(self.url, triggers=triggers)
        at = time.perf_counter()
        self.page.asked(at, label)
        await self.ws.send(msg.SerializeToString())
        deadline = at + ANSWER_TIMEOUT
        while time.perf_counter() < deadline:
            try:
                await asyncio.wait_for(self.finished.wait(), deadline - time.perf_counter())
            except TimeoutError:
                break
            self.finished.clear()
            answered = [x for x in rerun_timings(self.page.events) if x.asked == at]
            if answered and math.isfinite(answered[0].seconds):
                return answered[0].seconds
        return math.inf

    def switch_dataset(self) -> tuple[str, ...]:
        """Pick the other dataset in the page's Dataset selectbox (as a click on the option does)."""
        box = self.page.widgets[self.page.widget_id("image_dataset")]
        box.string_value = SWITCH[box.string_value]
        return ()


# ---- a level of load: N sessions on a fresh server ----


@dataclass
class Plan:
    sessions: int
    training: int
    seconds: float
    epochs: int
    model: str
    think: tuple[float, float]
    media: bool = True


async def person(session: Session, plan: Plan, trains: bool, barrier: dict, window: list) -> None:
    """Load the page, (Train), then switch the dataset every 2-5 s of thinking until the window closes."""
    await session.rerun("load")
    barrier["loaded"] += 1
    await barrier["go"].wait()
    if trains:
        await session.rerun("train", triggers=("image_train_btn",))
    while time.perf_counter() < window[1]:
        await asyncio.sleep(random.uniform(*plan.think))
        if time.perf_counter() >= window[1]:
            break
        session.switch_dataset()
        await session.rerun("change")


async def drive(url: str, plan: Plan, on_go=None) -> tuple[list[Session], list[float], int]:
    """The level's sessions, its measured window (perf_counter) and how many sessions failed on the way."""
    query = f"model={plan.model}&epochs={plan.epochs}&dataset=digits"  # the shared link of the Chromium benchmark
    warm = Session(url, "image", query)  # first imports (PyTorch, the pages) before anything is timed

    async def load_once(s: Session) -> None:
        await s.rerun("load")

    await warm.run(load_once)
    barrier = {"loaded": 0, "go": asyncio.Event()}
    window = [math.inf, math.inf]
    sessions = [Session(url, "image", query, plan.media) for _ in range(plan.sessions)]
    tasks = []
    for i, s in enumerate(sessions):  # arrive over a few seconds, not in one instant
        body = lambda s, i=i: person(s, plan, i < plan.training, barrier, window)  # noqa: E731
        tasks.append(asyncio.create_task(s.run(body)))
        await asyncio.sleep(0.2)
    while barrier["loaded"] < plan.sessions:
        await asyncio.sleep(0.1)
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
    start = time.perf_counter()
    window[:] = [start, start + plan.seconds]
    if on_go is not None:
        on_go()
    barrier["go"].set()
    failed = [e for e in await asyncio.gather(*tasks, return_exceptions=True) if e is not None]
    for error in failed:  # a session that fails does not end the level
        print(f"a session failed: {error!r}", file=sys.stderr)
    return sessions, window, len(failed)


def server_clock(log: Path) -> dict[str, list]:
    """session id -> its events on the server's clock (benchmarks/server_clock), as PageState.events."""
    events: dict[str, list] = {}
    for line in log.read_text().splitlines():
        t, session, kind, *rest = line.split()
        if kind == "ask":
            events.setdefault(session, []).append((float(t), "ask", "change"))
        elif kind == "start" or (kind == "finish" and rest[1] == "0"):  # a run begun, or finished successfully
            events.setdefault(session, []).append((float(t), kind, rest[0]))
    for session in events.values():  # the first request of each session is its page load
        first = next(i for i, e in enumerate(session) if e[1] == "ask")
        session[first] = (session[first][0], "ask", "load")
    return events


def with_server_clock(home: Path) -> Path:
    """Servers started from now on log their own times (benchmarks/server_clock) to the file returned."""
    os.environ["DLSTUDIO_SERVER_CLOCK"] = str(home / "server_clock.log")
    hook = str(ROOT / "benchmarks" / "server_clock")
    os.environ["PYTHONPATH"] = os.pathsep.join([hook, *[p for p in [os.environ.get("PYTHONPATH")] if p and p != hook]])
    return home / "server_clock.log"


def cpu_seconds(pid: int) -> float:
    """A process's CPU seconds so far (user + system), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(port: int) -> int:
    """The `streamlit run` serving on `port` (benchmarks.browser.serve_app keeps its process to itself)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in cmd and b"--server.port" in cmd and cmd[cmd.index(b"--server.port") + 1] == b"%d" % port:
                return int(entry.name)
    raise LookupError(f"no streamlit server on port {port}")


def pctl(values: list[float], q: float) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.percentile(finite, q)) if finite else math.nan


def measure(plan: Plan, profile: float = 0) -> dict:
    """One level: a fresh server, `plan.sessions` simulated people, the server's times and CPU in the window."""
    from benchmarks.browser import serve_app
    from benchmarks.concurrent_sessions import MemorySampler
    from core.run.store import RunStore

    home = Path(tempfile.mkdtemp(prefix="dlstudio-load-"))
    clock = with_server_clock(home)
    with serve_app(home) as url:
        pid = server_pid(int(url.rsplit(":", 1)[1]))
        sampler = MemorySampler(pid)
        sampler.start()
        me, load_before = time.process_time(), os.getloadavg()[0]
        spies = []

        def start_profile() -> None:  # py-spy on the server through the measured window
            command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--duration",
                       str(int(profile)), "--rate", "50", "--format", "raw", "--nonblocking", "--gil",
                       "--output", str(home / "profile.txt")]  # fmt: skip
            spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        started, offset = time.time(), time.time() - time.perf_counter()
        sessions, window, failed = asyncio.run(drive(url, plan, start_profile if profile else None))
        ended = time.time()
        sampler.running = False
        mine, peak = time.process_time() - me, sampler.status("VmHWM")
        statuses = [r["status"] for r in RunStore(home / "runs").list()]  # as the window closed
        for spy in spies:
            spy.wait()
    timings = [t for s in sessions for t in rerun_timings(s.page.events)]
    inside = [t for t in timings if window[0] <= t.asked <= window[1]]
    changes = [t.seconds for t in inside if t.label == "change"]
    ours = {s.page.session_id for s in sessions}
    by_server = [  # the same interactions on the server's own clock: request handled -> script_finished queued
        t.seconds
        for sid, events in server_clock(clock).items()
        if sid in ours
        for t in rerun_timings(events)
        if t.label == "change" and window[0] + 1 <= t.asked <= window[1]  # not the Train clicks at the start
    ]

    def runs(kind: str) -> int:  # script runs of this kind that ended (fragments) or began (full) in the window
        return sum(1 for s in sessions for t, k, _ in s.page.events if k == kind and window[0] <= t <= window[1])

    full, fragments = runs("start"), runs("fragment")
    span = window[1] - window[0]
    cpu = sampler.cpu_between(offset + window[0], offset + window[1])  # the window on the wall clock
    summary = {
        "sessions": plan.sessions,
        "training": plan.training,
        "window_s": round(span, 1),
        "interactions": len(changes),
        "p50_s": pctl(changes, 50),
        "p95_s": pctl(changes, 95),
        "max_s": max((c for c in changes if math.isfinite(c)), default=math.nan),
        "server_clock_p50_s": pctl(by_server, 50),
        "server_clock_p95_s": pctl(by_server, 95),
        "unanswered": sum(1 for t in timings if not math.isfinite(t.seconds)),
        "asked": len(timings),
        "sessions_failed": failed,
        "train_p50_s": pctl([t.seconds for t in timings if t.label == "train"], 50),
        "load_p95_s": pctl([t.seconds for t in timings if t.label == "load"], 95),
        "full_runs": full,
        "fragment_runs": fragments,
        "server_cores": cpu.get("server", 0.0) / span,
        "server_cpu_ms_per_run": 1000 * cpu.get("server", 0.0) / max(full + fragments, 1),
        "training_cores": cpu.get("training workers", 0.0) / span,
        "generator_cores": mine / (ended - started),
        "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "rss_peak_mb": peak,
        "runs_by_status": {status: statuses.count(status) for status in sorted(set(statuses))},
        "media_fetched": sum(len(s.fetched) for s in sessions),
        "media_not_found": sum(code == 404 for s in sessions for code in s.fetched),
    }
    if profile:
        summary["profile"] = str(home / "profile.txt")
    return summary


def top_functions(raw_profile: Path, n: int = 15) -> list[tuple[str, float, float]]:
    """(function, self share, total share) of the samples in a py-spy `--format raw` (collapsed stacks) file."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    count = 0
    for line in raw_profile.read_text().splitlines():
        stack, _, k = line.rpartition(" ")
        if not stack:
            continue
        frames, k = stack.split(";"), int(k)
        count += k
        own[frames[-1]] = own.get(frames[-1], 0) + k
        for f in set(frames):
            total[f] = total.get(f, 0) + k
    ranked = sorted(own, key=lambda f: -own[f])[:n]
    return [(f, own[f] / count, total[f] / count) for f in ranked]


def table(rows: list[dict], plan_text: str) -> str:
    lines = [
        plan_text,
        "",
        "| sessions (training) | interactions | server's response p50 / p95 / max | the server's own clock p50 / p95 "
        "| unanswered | full / fragment runs | server CPU: cores, ms per run | training cores | load generator cores "
        "| load avg (before, after) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sessions']} ({r['training']}) | {r['interactions']} | {r['p50_s']:.2f} / **{r['p95_s']:.2f}** / "
            f"{r['max_s']:.2f} s | {r['server_clock_p50_s']:.2f} / {r['server_clock_p95_s']:.2f} s | "
            f"{r['unanswered']} of {r['asked']} | {r['full_runs']} / {r['fragment_runs']} | "
            f"{r['server_cores']:.2f}, {r['server_cpu_ms_per_run']:.0f} ms | {r['training_cores']:.2f} | "
            f"{r['generator_cores']:.2f} | {r['load_avg'][0]}, {r['load_avg'][1]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", default="1,8,16,32,64", help="levels, comma separated")
    parser.add_argument("--training", type=int, default=8, help="sessions that click Train (at most all of them)")
    parser.add_argument("--seconds", type=float, default=60, help="the measured window of each level")
    parser.add_argument("--epochs", type=int, default=300, help="long enough that the runs train all window")
    parser.add_argument("--model", default="cnn_bn")
    parser.add_argument("--think", default="2,5", help="seconds between a person's answer and next change")
    parser.add_argument("--no-media", action="store_true", help="do not fetch the images a page shows")
    parser.add_argument("--profile", type=float, default=0, help="py-spy a level's server for N s of its window")
    parser.add_argument("--profile-at", type=int, help="the level (sessions) to profile; default the largest")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "dlstudio-load.md"))
    args = parser.parse_args()
    think = tuple(float(x) for x in args.think.split(","))
    rows = []
    levels = [int(x) for x in args.sessions.split(",")]
    for n in levels:
        plan = Plan(n, min(args.training, n), args.seconds, args.epochs, args.model, think, not args.no_media)
        row = measure(plan, args.profile if n == (args.profile_at or max(levels)) else 0)
        print(json.dumps(row), flush=True)
        rows.append(row)
    workers = os.environ.get("DLSTUDIO_WORKERS", "2")
    text = table(
        rows,
        f"Protocol sessions on the image page: each switches the dataset after {think[0]:g}-{think[1]:g} s of "
        f"thinking; the first {args.training} click Train (`{args.model}`, {args.epochs} epochs; {workers} "
        f"training workers) first. {args.seconds:g} s measured per level; {os.cpu_count()} CPUs.",
    )
    if args.profile:
        profiled = next(r for r in rows if "profile" in r)
        text += f"\n\nThe server under {profiled['sessions']} sessions (py-spy): self / total share of its samples\n"
        for name, own, tot in top_functions(Path(profiled["profile"])):
            text += f"\n- {own:.1%} / {tot:.1%} {name}"
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

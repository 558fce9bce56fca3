"""Jobs as Ray tasks: on a cluster (`auto`, HOST:PORT) or a local Ray; the optional backend (requirements-ray.txt).

A task never opens the run store: every write it makes (status, epochs, the checkpoint, the artifacts, the final
metrics) travels back with its events to this process, the driver, which writes them. So a cluster needs no shared
filesystem, and the store's pid is the driver's: a run whose driver died reads as interrupted. The nodes need this
project and its requirements at the same path (or a runtime_env of your own), and the data: a bundled set, or a
folder at the same path on every node.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from core.exec.workers import OnEvent, QueuedRunner

RAY_MISSING = "Ray is not installed: pip install -r requirements-ray.txt"
LOCAL_CPUS = 2  # a local Ray (no address given) gets this many CPUs: one task each
CONNECT_SECONDS = 10.0  # for the cluster's address to answer; Ray itself retries for minutes (DLSTUDIO_RAY_TIMEOUT)
POLL = 0.1  # seconds between reads of the event queue and of the stop flags
ROOT = Path(__file__).resolve().parents[2]


class RayMissing(ValueError):
    """--backend ray or DLSTUDIO_RAY_ADDRESS without Ray installed."""


def connect(address: str | None = None):
    """Ray, connected: to `address` (`auto`, HOST:PORT; else DLSTUDIO_RAY_ADDRESS), or a local Ray of LOCAL_CPUS
    CPUs when neither names one (or it says `local`). Once per process; later calls reuse the connection."""
    try:
        import ray
    except ImportError:
        raise RayMissing(RAY_MISSING) from None
    if not ray.is_initialized():
        address = address or os.environ.get("DLSTUDIO_RAY_ADDRESS", "").strip() or None
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        options: dict[str, Any] = {"runtime_env": {"env_vars": {"PYTHONPATH": path}}, "logging_level": "WARNING"}
        if address and address != "local":
            check_reachable(address)
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=LOCAL_CPUS, include_dashboard=False, **options)
    return ray


def check_reachable(address: str) -> None:
    """ValueError naming `address` unless something answers there within CONNECT_SECONDS: Ray's own connect retries
    an unreachable cluster for minutes. `auto` (a cluster found on this machine) is Ray's to find."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    seconds = float(os.environ.get("DLSTUDIO_RAY_TIMEOUT") or CONNECT_SECONDS)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except ValueError:
        raise ValueError(f"Ray address {address!r}: expected HOST:PORT, auto or local") from None
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
        raise ValueError(
            f"no Ray cluster at {address}: {why} within {seconds:g} s (start one with `ray start --head`, or check "
            "the address)"
        ) from None


class RelayStore:
    """Stands in for the run store inside a Ray task: writes go to the driver with the events; a fine-tune's
    starting checkpoint comes with the task."""

    def __init__(self, emit, checkpoints: dict[str, Any]) -> None:
        self.emit, self.checkpoints = emit, checkpoints

    def _relay(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.emit("store", method=method, args=args, kwargs=kwargs)

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        self._relay("set_status", run_id, status, error)

    def beat(self, run_id: str) -> None:
        self._relay("beat", run_id)

    def log_epoch(self, run_id: str, logs: dict[str, float]) -> None:
        self._relay("log_epoch", run_id, logs)

    def finish(self, run_id: str, *args: Any, **kwargs: Any) -> None:
        self._relay("finish", run_id, *args, **kwargs)

    def save_checkpoint(self, run_id: str, checkpoint: dict[str, Any]) -> None:
        self._relay("save_checkpoint", run_id, checkpoint)

    def save_artifacts(self, run_id: str, **arrays: Any) -> None:
        self._relay("save_artifacts", run_id, **arrays)

    def load_checkpoint(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.checkpoints:
            raise FileNotFoundError(f"run {run_id} has no checkpoint")
        return self.checkpoints[run_id]


class _Mailbox:
    """An actor between the driver and its tasks: the events the tasks send, and which jobs to stop."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.stops: set[int] = set()

    def put(self, key: int, kind: str, payload: dict[str, Any]) -> None:
        self.events.append((key, kind, payload))

    def take(self) -> list[tuple[int, str, dict[str, Any]]]:
        events, self.events = self.events, []
        return events

    def stop(self, key: int) -> None:
        self.stops.add(key)

    def stopped(self, key: int) -> bool:
        return key in self.stops


class _PolledStop:
    """The task's view of its stop flag in the mailbox: polled every POLL s (an actor call per batch would cost
    more than a small model's batch), and read at once when the task starts."""

    def __init__(self, mailbox, key: int) -> None:
        import ray

        self._event, self._ended = threading.Event(), threading.Event()
        self._check = lambda: ray.get(mailbox.stopped.remote(key))
        if self._check():
            self._event.set()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._ended.wait(POLL) and not self._event.is_set():
            if self._check():
                self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def close(self) -> None:
        self._ended.set()


def _task(key: int, task: dict[str, Any], mailbox) -> None:
    """What runs on a Ray worker: the job, its events into the mailbox, each delivered before the next (so all of
    them are there when the task returns)."""
    import ray

    from core.exec.job_runner import run_job, take_settings

    def emit(kind: str, **payload: Any) -> None:
        ray.get(mailbox.put.remote(key, kind, payload))

    take_settings(task)
    stop = _PolledStop(mailbox, key)
    try:
        run_job(task, RelayStore(emit, task.get("checkpoints", {})), stop, emit)
    finally:
        stop.close()


class RayRunner(QueuedRunner):
    """Tasks wait here FIFO and run as Ray tasks, at most one per cluster CPU at once (`size`)."""

    def __init__(self, address: str | None = None) -> None:
        ray = connect(address)
        self._ray = ray
        self.size = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._mailbox = ray.remote(num_cpus=0)(_Mailbox).remote()
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_task)
        self._pending: deque[tuple[int, dict[str, Any]]] = deque()
        self._running: dict[int, Any] = {}  # key -> the task's ObjectRef
        self._listeners: dict[int, OnEvent] = {}
        self._keys = iter(range(1, 1 << 62))
        self._lock = threading.RLock()
        self._closed = False
        self._pumping = threading.Thread(target=self._pump, name="ray-job-events", daemon=True)
        self._pumping.start()

    def launch(self, task: dict[str, Any], on_event: OnEvent) -> int:
        init_from = task["config"].init_from
        if init_from:  # the task cannot read the store: its starting checkpoint goes with it
            from core.run.store import job_store

            task = {**task, "checkpoints": {init_from: job_store(task).load_checkpoint(init_from)}}
        return self._enqueue(task, on_event)

    def stop(self, key: int) -> None:
        self._mailbox.stop.remote(key)

    def close(self, timeout: float = 30.0) -> None:
        """Stop what runs, wait (up to `timeout`) for it to end and its events to arrive, then free the mailbox."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for key in running:
            self.stop(key)
        self._pumping.join(timeout)

    def _dispatch(self) -> None:
        with self._lock:
            while self._pending and len(self._running) < self.size and not self._closed:
                key, task = self._pending.popleft()
                self._running[key] = self._remote.remote(key, task, self._mailbox)

    def _pump(self) -> None:
        while True:
            try:
                self._deliver_events()
                with self._lock:
                    running = dict(self._running)
                ready = set()
                if running:
                    ready, _ = self._ray.wait(list(running.values()), num_returns=len(running), timeout=0)
                    ready = set(ready)
                ended = [key for key, ref in running.items() if ref in ready]
                if ended:
                    self._deliver_events()  # a task's last events are in the mailbox before it returns
                for key in ended:
                    self._ended(key, running[key])
            except Exception:  # keep pumping: one bad event must not strand every other job
                traceback.print_exc()
            with self._lock:
                if self._closed and not self._running:
                    with contextlib.suppress(Exception):  # Ray may be shut down already
                        self._ray.kill(self._mailbox)
                    return
            time.sleep(POLL)

    def _deliver_events(self) -> None:
        for key, kind, payload in self._ray.get(self._mailbox.take.remote()):
            listener = self._listeners.get(key)
            if listener is not None:
                listener(kind, payload)
            if kind == "done":
                self._listeners.pop(key, None)

    def _ended(self, key: int, ref) -> None:
        """A task returned or died; one that died before its 'done' fails its job with Ray's reason."""
        with self._lock:
            self._running.pop(key, None)
            listener = self._listeners.pop(key, None)
        if listener is not None:
            try:
                self._ray.get(ref)
                reason = "the Ray task ended without a result"
            except Exception as exc:
                reason = f"the Ray task running it died: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            listener("died", {"error": reason})
        self._dispatch()

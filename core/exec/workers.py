"""Where jobs train on this machine: a pool of spawned worker processes (the default), or threads (tests).

A worker process imports torch once (seconds) and then trains job after job, at a lower OS priority than the web
server and with its share of the cores as torch threads, so pages stay responsive while runs train. Each worker has
its own pipes (tasks in, events out) and a stop flag in shared memory: a worker killed mid-write (kill -9, the
out-of-memory killer) can corrupt only its own pipe, and the pool replaces it and fails its task saying why.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import multiprocessing as mp
import multiprocessing.util
import os
import signal
import sys
import threading
import traceback
import types
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

OnEvent = Callable[
    [str, dict[str, Any]], None
]  # on_event(kind, payload), kinds as core/exec/job_runner.py's, and "died"
NICE = 10  # how much lower the workers' OS priority is than the server's; DLSTUDIO_WORKER_NICE overrides
FAILED_STARTS = 3  # workers in a row that die before they are ready: stop replacing them, fail the queue


def threads_per_worker(workers: int) -> int:
    """Each concurrent job's share of the cores as torch threads; DLSTUDIO_THREADS overrides.

    PyTorch's thread count is per process: with 2 jobs of 2 threads on 2 cores, every small step (a GRU's, an
    attention layer's) waits for a thread the other job has pushed off the CPU, and a run takes several times longer.
    """
    cores = os.cpu_count() or 1
    return int(os.environ.get("DLSTUDIO_THREADS", max(1, cores // max(workers, 1))))


class SharedFlag:
    """A stop flag in shared memory, set by the server and read by a worker every batch: the `is_set()`/`set()`
    of threading.Event, which core.run.training.StopFlag takes."""

    def __init__(self, value) -> None:
        self.value = value  # a multiprocessing RawValue("b")

    def is_set(self) -> bool:
        return bool(self.value.value)

    def set(self) -> None:
        self.value.value = 1


def died_message(exitcode: int | None) -> str:
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit status {exitcode}"
    why = "killed: by hand or for running out of memory" if exitcode == -signal.SIGKILL else "it crashed"
    return f"the worker process running it died ({how}; {why}); the epochs it finished are kept in its history"


def _worker_main(tasks: Connection, events: Connection, flag, threads: int, nice: int) -> None:
    """One worker process: run the tasks that come down `tasks` one at a time, events up `events`, until told to
    end (None) or the server is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the server's terminal is the server's to handle
    with contextlib.suppress(OSError):
        os.nice(nice)
    import torch

    torch.set_num_threads(threads)
    from core.exec.job_runner import run_job, take_settings
    from core.run.store import job_store

    importlib.import_module("core.run.experiment")  # every task's code: loaded now rather than in the first job
    parent, stop = os.getppid(), SharedFlag(flag)
    events.send((None, "ready", {"pid": os.getpid()}))
    while True:
        if not tasks.poll(1.0):
            if os.getppid() != parent:  # the server died: nobody is left to hand out work or read events
                return
            continue
        try:
            item = tasks.recv()
        except EOFError:
            return
        if item is None:
            return
        key, task = item

        def emit(kind: str, _key=key, **payload) -> None:
            events.send((_key, kind, payload))

        try:
            take_settings(task)
            store = job_store(task)
        except Exception as exc:  # a store that cannot be opened here: say so, and take the next task
            emit("done", status="failed", error=f"{type(exc).__name__}: {exc}")
            continue
        run_job(task, store, stop, emit)


@contextlib.contextmanager
def _main_left_behind():
    """Spawn without the parent's `__main__`: a spawned child re-runs it, and under Streamlit that is the page script
    (which would start workers of its own). The workers need only core/, which they import themselves."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@dataclass(eq=False)
class _Worker:
    process: Any
    tasks: Connection  # the server's end: tasks go down it
    events: Connection  # the server's end: events come up it
    flag: Any
    key: int | None = None  # the task it is running
    ready: bool = False


class QueuedRunner:
    """What the process pool and the Ray runner share: tasks wait FIFO under `_lock` until `_dispatch` hands them
    to a free worker, and a task not handed out yet can be taken back."""

    def _enqueue(self, task: dict[str, Any], on_event: OnEvent) -> int:
        with self._lock:
            key = next(self._keys)
            self._listeners[key] = on_event
            self._pending.append((key, task))
            self._dispatch()
        return key

    def cancel(self, key: int) -> bool:
        """Take a task that has not reached a worker off the queue; False once a worker has it."""
        with self._lock:
            for item in self._pending:
                if item[0] == key:
                    self._pending.remove(item)
                    self._listeners.pop(key, None)
                    return True
        return False


class ProcessPool(QueuedRunner):
    """`size` spawned worker processes, started once (`start`, or the first task) and kept job after job; tasks
    wait FIFO for a free worker."""

    def __init__(self, size: int, threads: int | None = None, nice: int | None = None) -> None:
        self.size = max(1, size)
        self._ctx = mp.get_context("spawn")
        self._threads = threads or threads_per_worker(self.size)
        self._nice = int(os.environ.get("DLSTUDIO_WORKER_NICE", NICE)) if nice is None else nice
        self._keys = itertools.count(1)
        self._pending: deque[tuple[int, dict[str, Any]]] = deque()
        self._listeners: dict[int, OnEvent] = {}
        self._workers: list[_Worker] = []
        self._lock = threading.RLock()
        self._failed_starts = 0
        self._closed = False
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        """Start the workers (once): each imports torch, which takes seconds, before it can take a task."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool has been shut down")
            if self._reader is None:
                self._workers = [self._spawn() for _ in range(self.size)]
                _close_pools_at_exit()
                self._reader = threading.Thread(target=self._read, name="job-events", daemon=True)
                self._reader.start()

    def launch(self, task: dict[str, Any], on_event: OnEvent) -> int:
        with self._lock:
            self.start()
            return self._enqueue(task, on_event)

    def stop(self, key: int) -> None:
        """Ask the worker running `key` to stop after its current batch."""
        with self._lock:
            for w in self._workers:
                if w.key == key:
                    w.flag.value = 1

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for w in workers:
            w.flag.value = 1
            with contextlib.suppress(OSError):
                w.tasks.send(None)
        for w in workers:
            w.process.join(timeout)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)

    def _spawn(self) -> _Worker:
        tasks_out, tasks_in = self._ctx.Pipe(duplex=False)  # (reading end, writing end)
        events_out, events_in = self._ctx.Pipe(duplex=False)
        flag = self._ctx.RawValue("b", 0)
        process = self._ctx.Process(
            target=_worker_main,
            args=(tasks_out, events_in, flag, self._threads, self._nice),
            name="dlstudio-worker",
            daemon=False,  # a worker may start processes of its own (DDP); _close_pools ends it at exit
        )
        with _main_left_behind():
            process.start()
        tasks_out.close()  # the worker's ends: closed here, so a dead worker reads as end-of-file
        events_in.close()
        return _Worker(process, tasks_in, events_out, flag)

    def _dispatch(self) -> None:
        with self._lock:
            for w in self._workers:
                if not self._pending:
                    return
                if w.key is None:
                    key, task = self._pending.popleft()
                    w.key, w.flag.value = key, 0
                    with contextlib.suppress(OSError):  # it died just now: the reader replaces it, fails the task
                        w.tasks.send((key, task))

    def _read(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                by_conn = {w.events: w for w in self._workers}
                by_sentinel = {w.process.sentinel: w for w in self._workers}
            for ready in wait([*by_conn, *by_sentinel], timeout=0.5):
                worker = by_conn.get(ready) or by_sentinel[ready]
                try:
                    self._drain(worker) if ready in by_conn else self._replace(worker)
                except Exception:  # a listener's bug must not stop the events of every other job
                    traceback.print_exc()

    def _drain(self, worker: _Worker) -> None:
        """Deliver what `worker` has sent; at end-of-file it has died: replace it."""
        try:
            while worker.events.poll():
                key, kind, payload = worker.events.recv()
                self._deliver(worker, key, kind, payload)
        except (EOFError, OSError):
            worker.process.join(1.0)
            self._replace(worker)

    def _deliver(self, worker: _Worker, key: int | None, kind: str, payload: dict[str, Any]) -> None:
        if kind == "ready":
            worker.ready, self._failed_starts = True, 0
            return
        listener = self._listeners.get(key)
        if kind == "done":
            with self._lock:
                worker.key = None
                self._listeners.pop(key, None)
        if listener is not None:
            listener(kind, payload)  # 'done' reaches the job before the next task starts
        if kind == "done":
            self._dispatch()

    def _replace(self, worker: _Worker) -> None:
        """A worker ended: fail its task, start another in its place, and go on with the queue."""
        with self._lock:
            if worker not in self._workers:
                return
            with contextlib.suppress(EOFError, OSError):  # what it sent before it died first ('done', if sent)
                while worker.events.poll():
                    self._deliver(worker, *worker.events.recv())
            worker.process.join(1.0)
            self._workers.remove(worker)
            worker.tasks.close()
            worker.events.close()
            key, listener = worker.key, self._listeners.pop(worker.key, None)
            self._failed_starts += 0 if worker.ready else 1
            failed: list[tuple[int | None, OnEvent | None]] = [(key, listener)] if key is not None else []
            if self._failed_starts >= FAILED_STARTS:  # workers cannot start here: fail the queue, do not spin
                failed += [(k, self._listeners.pop(k, None)) for k, _ in self._pending]
                self._pending.clear()
            elif not self._closed:
                self._workers.append(self._spawn())
        error = died_message(worker.process.exitcode)
        if not worker.ready:
            error = f"worker processes fail to start (exit status {worker.process.exitcode}): see the server's log"
        for _, on_event in failed:
            if on_event is not None:
                on_event("died", {"error": error})
        self._dispatch()


_POOLS: dict[int, ProcessPool] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(size: int) -> ProcessPool:
    """The process's pool of `size` workers: every JobManager of that size shares it (spawning costs seconds)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(size)
        if pool is None or pool._closed:
            pool = _POOLS[size] = ProcessPool(size)
        return pool


def _close_pools() -> None:
    for pool in list(_POOLS.values()):
        pool.close(timeout=2.0)


def _close_pools_at_exit() -> None:
    """At exit, multiprocessing waits for every non-daemon child, and idle workers never end by themselves: close
    the pools first, as a finalizer multiprocessing runs before that wait (plain atexit order is not reliable)."""
    global _AT_EXIT
    if not _AT_EXIT:
        mp.util.Finalize(None, _close_pools, exitpriority=100)
        _AT_EXIT = True


_AT_EXIT = False


class ThreadRunner:
    """Jobs in threads of this process: for tests and debugging. A hard crash in one takes the process with it."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="train")
        self._keys = itertools.count(1)
        self._futures: dict[int, Any] = {}
        self._stops: dict[int, threading.Event] = {}

    def launch(self, task: dict[str, Any], on_event: OnEvent) -> int:
        key = next(self._keys)
        self._stops[key] = threading.Event()
        self._futures[key] = self._pool.submit(self._run, key, task, on_event)
        return key

    def _run(self, key: int, task: dict[str, Any], on_event: OnEvent) -> None:
        from core.exec.job_runner import run_job
        from core.run.store import job_store

        try:
            run_job(task, job_store(task), self._stops[key], lambda kind, **payload: on_event(kind, payload))
        except Exception as exc:  # the store could not be opened
            on_event("done", {"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
        finally:
            self._futures.pop(key, None)
            self._stops.pop(key, None)

    def cancel(self, key: int) -> bool:
        future = self._futures.get(key)
        if future is None or not future.cancel():
            return False
        self._futures.pop(key, None)
        self._stops.pop(key, None)
        return True

    def stop(self, key: int) -> None:
        if key in self._stops:
            self._stops[key].set()

    def close(self) -> None:
        for stop in list(self._stops.values()):
            stop.set()
        self._pool.shutdown(wait=True)

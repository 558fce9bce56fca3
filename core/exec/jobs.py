"""Background training jobs: a FIFO queue onto worker processes (default), threads or Ray; progress, stop, faults.

Where a job trains is the backend's business (core/exec/workers.py, core/exec/ray_jobs.py); what the pages read
is the same for all of them: a `Job` whose `snapshot()` the events from its run keep up to date, and its run in
the store.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.exec.job_runner import job_task
from core.run.settings import RunConfig
from core.run.store import ACTIVE, RunStore

if TYPE_CHECKING:
    from core.run.experiment import RunResult

MAX_ACTIVE = 3  # jobs one browser session may have queued or running at once (a what-if race asks for more)
# The web app's whole queue (DLSTUDIO_MAX_JOBS) and one client address's share of it (DLSTUDIO_MAX_JOBS_PER_CLIENT):
# a reload is a new session with a fresh MAX_ACTIVE, the address stays. Per address: one what-if race (24 runs) and 3.
MAX_JOBS = 64
MAX_PER_CLIENT = 27
BACKENDS = ("process", "thread", "ray")
DONE = ("finished", "stopped", "failed", "cancelled", "diverged")
# What a Ray task may ask the driver to write into the store for it (core/exec/ray_jobs.py RelayStore).
STORE_WRITES = ("set_status", "beat", "log_epoch", "finish", "save_checkpoint", "save_artifacts")


class JobFailed(ValueError):
    """A job run elsewhere failed; the message is its error (a ValueError, so the CLI prints it as one line)."""


@dataclass
class Job:
    """One submitted run. Read `snapshot()` from any thread; events from its worker update the rest."""

    id: int
    config: RunConfig
    label: str = ""
    owner: str = ""  # browser session that submitted it
    client: str = ""  # the address it came from (every session of one browser, reloads included)
    status: str = "queued"  # queued | running | finished | stopped | failed | cancelled | diverged
    run_id: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    batch: int = 0
    embedded: tuple[int, int] | None = None  # (inputs embedded, of) while a frozen backbone embeds the data
    searched: tuple[int, int] | None = None  # (epochs done, of) of the short runs of a learning-rate search
    batches_per_epoch: int | None = None
    epoch: int = 0
    epochs: int | None = None  # the epochs that train (after the fit-to-data rule), known once the fit starts
    error: str | None = None
    result: RunResult | None = None  # without the model, which is in the run's checkpoint
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def done(self) -> bool:
        return self.status in DONE

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "label": self.label,
                "status": self.status,
                "run_id": self.run_id,
                "history": list(self.history),
                "epoch": self.epoch,
                "epochs": self.epochs or self.config.epochs,
                "batch": self.batch,
                "embedded": self.embedded,
                "searched": self.searched,
                "error": self.error,
                "elapsed": (self.ended or time.time()) - self.started if self.started else 0.0,
            }


def make_runner(backend: str, max_workers: int, ray_address: str | None = None):
    """The backend's runner: launch(task, on_event) -> key, cancel(key) -> bool, stop(key), close(), size."""
    if backend == "process":
        from core.exec.workers import shared_pool

        return shared_pool(max_workers)
    if backend == "thread":
        from core.exec.workers import ThreadRunner

        return ThreadRunner(max_workers)
    if backend == "ray":
        from core.exec.ray_jobs import RayRunner

        return RayRunner(ray_address)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


class JobManager:
    """At most `max_workers` runs train at once; the rest wait in a FIFO queue.

    backend: "process" (default: a shared pool of spawned worker processes), "thread" (in this process: tests),
    or "ray" (Ray tasks on the cluster at `ray_address`, `auto`, or a local Ray; max_workers = its CPUs).
    """

    def __init__(
        self,
        store: RunStore,
        max_workers: int = 2,
        backend: str = "process",
        ray_address: str | None = None,
        max_jobs: int | None = None,
        max_per_client: int | None = None,
    ) -> None:
        self.store = store
        self.max_jobs, self.max_per_client = max_jobs, max_per_client  # queued or running; None: no bound
        self.backend = backend
        self._runner = make_runner(backend, max_workers, ray_address)
        self.max_workers = self._runner.size
        if backend == "process":
            self._runner.start()  # workers import torch (seconds, at low priority) before the first job comes
        self._jobs: dict[int, Job] = {}
        self._keys: dict[int, int] = {}  # job id -> the runner's key for it
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._submitting = threading.Lock()  # a place checked is a place taken: two sessions cannot both get it

    def check_room(self, owner: str = "", client: str = "", limit: int = MAX_ACTIVE, count: int = 1) -> None:
        """Raise ValueError naming the bound, unless `count` more jobs fit, queued or running: at most `limit` for
        the owner (a browser session), `max_per_client` for its address (a reload is a new session from the same
        address, so it starts no fresh allowance) and `max_jobs` in all."""
        active = self.jobs(active_only=True)
        bounds = (
            (sum(1 for j in active if owner and j.owner == owner), limit, "of your jobs are", ""),
            (sum(1 for j in active if client and j.client == client), self.max_per_client if client else None,
             "jobs from your address are", " (DLSTUDIO_MAX_JOBS_PER_CLIENT)"),
            (len(active), self.max_jobs, "jobs in all are", " (DLSTUDIO_MAX_JOBS): the training queue is full"),
        )  # fmt: skip
        for have, most, whose, setting in bounds:
            if most is not None and have + count > most:
                ask = f"{count} more would pass the limit of {most}" if count > 1 else f"at most {most}"
                raise ValueError(
                    f"{have} {whose} already queued or running ({ask}){setting}: wait for one to finish, "
                    "or stop one from the sidebar or the Runs page"
                )

    def submit(
        self,
        config: RunConfig,
        label: str = "",
        owner: str = "",
        limit: int = MAX_ACTIVE,
        client: str = "",
        test: bool = True,
    ) -> Job:
        """Queue a run, if check_room finds a place for it; `test=False`: a tuning trial, scored on validation only."""
        if self.backend == "ray" and config.nproc_per_node > 1:
            raise ValueError("a Ray task trains in one process: set the DDP processes to 1, or train locally")
        with self._submitting:
            self.check_room(owner, client, limit)
            job = Job(next(self._ids), config, label or f"{config.task}/{config.model}", owner, client)
            # The run exists in the store from the moment it is queued, so every page can see it.
            job.run_id = self.store.create(config.task, config, status="queued")
            with self._lock:
                self._jobs[job.id] = job
        task = job_task(config, job.run_id, str(self.store.root.resolve()), test)
        task["env"].update(self.store.env())  # a store opened on a named database: the worker opens the same one
        self._keys[job.id] = self._runner.launch(task, lambda kind, payload: self._on_event(job, kind, payload))
        return job

    def _on_event(self, job: Job, kind: str, payload: dict[str, Any]) -> None:
        """An event from the job's run (called on the runner's thread)."""
        try:
            self._apply(job, kind, payload)
        except Exception as exc:  # a store that cannot be written: the job ends failed, the others go on
            traceback.print_exc()
            if not job.done:
                job.error, job.ended, job.status = f"{type(exc).__name__}: {exc}", time.time(), "failed"

    def _apply(self, job: Job, kind: str, payload: dict[str, Any]) -> None:
        if kind == "started":
            job.started = time.time()
            job.status = "running"
        elif kind == "fit":
            job.epochs = int(payload["epochs"])
        elif kind == "batch":
            job.batch = payload["batch"]
        elif kind == "embed":  # a frozen backbone embedding the data, before the fit
            job.embedded = (int(payload["done"]), int(payload["total"]))
        elif kind == "lr_search":  # the short runs of a learning-rate search, before the fit
            job.searched = (int(payload["done"]), int(payload["total"]))
        elif kind == "epoch":
            with job.lock:
                job.history.append(payload["logs"])
                job.epoch = int(payload["logs"]["epoch"])
                job.batches_per_epoch, job.batch = payload["batches"], 0
        elif kind == "store" and payload["method"] in STORE_WRITES:  # a Ray task's write, done here
            getattr(self.store, payload["method"])(*payload["args"], **payload.get("kwargs", {}))
        elif kind == "died":
            self._died(job, payload["error"])
        elif kind == "done":
            if payload.get("result"):
                from core.run.experiment import RunResult

                job.result = RunResult(**payload["result"])
            job.error, job.ended = payload.get("error"), time.time()
            job.status = payload["status"]  # last: whoever sees the job done finds the rest set

    def _died(self, job: Job, error: str) -> None:
        """The process running the job died: the run failed, unless it got as far as its final status."""
        run = self.store.get(job.run_id) or {}
        if run.get("status") in (*ACTIVE, "interrupted", None):
            self.store.finish(job.run_id, "failed", {}, {}, 0.0, error=error)
            status = "failed"
        else:
            status, error = run["status"], run.get("error")
        job.error, job.ended = error, time.time()
        job.status = status

    def stop(self, job_id: int) -> None:
        """Stop a running job after its current batch, or cancel a queued one."""
        job = self._jobs.get(job_id)
        if job is None or job.done:
            return
        job.stop_event.set()
        key = self._keys.get(job_id)
        if job.status == "queued" and key is not None and self._runner.cancel(key):
            # the store first: whoever sees the job done must find the run's final status there
            self.store.set_status(job.run_id, "cancelled", "cancelled before it started")
            job.ended = time.time()
            job.status = "cancelled"
        elif key is not None:
            self._runner.stop(key)

    def stop_run(self, run_id: str) -> bool:
        """Stop the job training a stored run (the Runs page knows runs, not jobs); False if none is active."""
        job = next((j for j in self.jobs(active_only=True) if j.run_id == run_id), None)
        if job is not None:
            self.stop(job.id)
        return job is not None

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self, active_only: bool = False) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if not j.done] if active_only else jobs

    def wait(self, job_id: int, timeout: float = 60.0) -> Job:
        job = self._jobs[job_id]
        deadline = time.time() + timeout
        while not job.done and time.time() < deadline:
            time.sleep(0.02)
        return job

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop every job and wait for them to end; a thread or Ray runner closes too (the process pool is shared
        by every manager of this process and ends with it)."""
        active = self.jobs(active_only=True)
        for job in active:
            self.stop(job.id)
        deadline = time.time() + timeout
        for job in active:
            self.wait(job.id, max(0.0, deadline - time.time()))
        if self.backend != "process":
            self._runner.close()


def run_jobs(
    configs: list[RunConfig],
    store: RunStore,
    backend: str = "ray",
    ray_address: str | None = None,
    on_epoch: Callable[[Job, dict[str, float]], None] | None = None,
) -> Iterator[Job]:
    """For the CLI: queue every config as a job at once, then yield each job in order as it ends (`result_of`
    gives its result as run_experiment would). Ctrl-C stops every job: each ends 'stopped' with its model kept,
    as a local run does, or 'cancelled' if it had not started. A backend that cannot start (Ray not installed,
    no cluster at the address) or a config it cannot take raises here, before anything trains."""
    manager = JobManager(store, backend=backend, ray_address=ray_address)
    try:
        jobs = [manager.submit(config, limit=len(configs)) for config in configs]
    except BaseException:
        manager.shutdown()
        raise
    return _ended_in_order(manager, jobs, on_epoch)


def _ended_in_order(manager: JobManager, jobs: list[Job], on_epoch) -> Iterator[Job]:
    try:
        for job in jobs:
            seen = 0
            while not job.done:
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    for other in jobs:
                        manager.stop(other.id)
                history = job.snapshot()["history"]
                for logs in history[seen:] if on_epoch is not None else []:
                    on_epoch(job, logs)
                seen = len(history)
            yield job
    finally:
        manager.shutdown()


def run_remote(
    config: RunConfig, store: RunStore, backend: str, ray_address: str | None = None, callbacks=()
) -> RunResult:
    """One run as a job of `backend`, for the CLI: `callbacks` (a progress bar) get fit start, each epoch and fit
    end as they come back (with no trainer); the result is run_experiment's (without the model)."""

    def on_epoch(job: Job, logs: dict[str, float]) -> None:
        for callback in callbacks:
            callback.on_epoch_end(None, logs)

    jobs = run_jobs([config], store, backend, ray_address, on_epoch)
    for callback in callbacks:
        callback.on_fit_start(None)
    for job in jobs:
        for callback in callbacks:
            callback.on_fit_end(None, job.status)
        return result_of(job)
    raise AssertionError("run_jobs yields every job it is given")


def result_of(job: Job) -> RunResult:
    """An ended job's result as run_experiment gives it: Diverged raised for a diverged run, JobFailed for a failed
    one; a job cancelled before it started reads as 'stopped' with nothing trained."""
    from core.run.experiment import RunResult
    from core.run.training import Diverged

    if job.status == "diverged":
        raise Diverged(job.error)
    if job.status == "cancelled":
        return RunResult(job.run_id, "stopped", stop_reason="cancelled before it started", config=job.config)
    if job.result is None:
        raise JobFailed(f"run {job.run_id} {job.status}: {job.error}")
    return job.result

"""Background training jobs: a bounded pool of workers, progress snapshots, queue and cancel."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.experiment import RunResult, run_experiment
from core.runs import RunStore
from core.training import Callback, Diverged

MAX_ACTIVE = 3  # jobs one browser session may have queued or running at once (a what-if race asks for more)


@dataclass
class Job:
    """One submitted run. Read `snapshot()` from any thread; the worker updates the rest."""

    id: int
    config: dict[str, Any]
    label: str = ""
    owner: str = ""  # browser session that submitted it
    status: str = "queued"  # queued | running | finished | stopped | failed | cancelled
    run_id: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    batch: int = 0
    batches_per_epoch: int | None = None
    epoch: int = 0
    error: str | None = None
    result: RunResult | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def done(self) -> bool:
        return self.status in ("finished", "stopped", "failed", "cancelled", "diverged")

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "label": self.label,
                "status": self.status,
                "run_id": self.run_id,
                "history": list(self.history),
                "epoch": self.epoch,
                "epochs": self.config.get("epochs"),
                "batch": self.batch,
                "error": self.error,
                "elapsed": (self.ended or time.time()) - self.started if self.started else 0.0,
            }


class _Progress(Callback):
    def __init__(self, job: Job) -> None:
        self.job = job

    def on_batch_end(self, trainer, batch, loss):
        self.job.batch = batch + 1

    def on_epoch_end(self, trainer, logs):
        with self.job.lock:
            self.job.history.append(dict(logs))
            self.job.epoch = int(logs["epoch"])
            self.job.batches_per_epoch = self.job.batch
            self.job.batch = 0


class JobManager:
    """At most `max_workers` runs train at once; the rest wait in a FIFO queue."""

    def __init__(self, store: RunStore, max_workers: int = 2) -> None:
        self.store = store
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="train")
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, config: dict[str, Any], label: str = "", owner: str = "", limit: int = MAX_ACTIVE) -> Job:
        """Queue a run; one owner (a browser session) may have at most `limit` jobs queued or running."""
        mine = [j for j in self.jobs(active_only=True) if owner and j.owner == owner]
        if len(mine) + 1 > limit:
            raise ValueError(
                f"{len(mine)} of your jobs are already queued or running (at most {limit}): "
                "wait for one to finish, or stop one from the sidebar or the Runs page"
            )
        job = Job(next(self._ids), config, label or f"{config['task']}/{config['model']}", owner)
        # The run exists in the store from the moment it is queued, so every page can see it.
        job.run_id = self.store.create(config["task"], config, status="queued")
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._work, job)
        return job

    def _work(self, job: Job) -> None:
        if job.stop_event.is_set():
            # the store first: whoever sees the job done must find the run's final status there
            self.store.set_status(job.run_id, "cancelled", "cancelled before it started")
            job.status, job.ended = "cancelled", time.time()
            return
        job.status, job.started = "running", time.time()
        try:
            job.result = run_experiment(
                job.config, self.store, callbacks=[_Progress(job)], stop_event=job.stop_event, run_id=job.run_id
            )
            job.status = job.result.status
        except Diverged as exc:  # marked 'diverged' in the store by run_experiment
            job.status, job.error = "diverged", str(exc)
        except Exception as exc:  # the run is marked failed in the store by run_experiment
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.ended = time.time()

    def stop(self, job_id: int) -> None:
        """Stop a running job after its current batch, or cancel a queued one."""
        job = self._jobs.get(job_id)
        if job is not None:
            job.stop_event.set()

    def stop_run(self, run_id: str) -> bool:
        """Stop the job training a stored run (the Runs page knows runs, not jobs); False if none is active."""
        job = next((j for j in self.jobs(active_only=True) if j.run_id == run_id), None)
        if job is not None:
            job.stop_event.set()
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

    def shutdown(self) -> None:
        for job in self.jobs(active_only=True):
            job.stop_event.set()
        self._pool.shutdown(wait=True)

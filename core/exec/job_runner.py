"""One job's run, reported as events: the code a thread, a worker process and a Ray task all run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from core.run.settings import RunConfig
from core.run.training import Callback, Diverged

BATCH_EVERY = 0.1  # seconds between batch-progress events: a tiny model trains thousands of batches a second
BEAT_EVERY = 10.0  # seconds between heartbeats written to the run store while a run trains
PASSED_ENV = "DLSTUDIO_"  # the server's settings a job's process takes on (data roots, limits)
PASSED_TOO = ("TORCH_HOME",)  # the torch hub cache the page found pretrained weights in

Emit = Callable[..., None]  # emit(kind, **payload); kinds: started, fit, batch, epoch, done (and store, from Ray)


def job_task(config: RunConfig, run_id: str, store_root: str, test: bool = True) -> dict[str, Any]:
    """What a worker needs to run a job: the config, the run, the store, and the submitting process's
    DLSTUDIO_* settings and folder (a pooled worker outlives the settings it was started with). `test=False`: a
    tuning trial, scored on validation only (run_experiment's `test`)."""
    env = {k: v for k, v in os.environ.items() if _passed(k)}
    return {"config": config, "run_id": run_id, "store": store_root, "env": env, "cwd": os.getcwd(), "test": test}


def take_settings(task: dict[str, Any]) -> None:
    """Run under the submitter's DLSTUDIO_* settings and folder (where that folder exists on this machine)."""
    for key in [k for k in os.environ if _passed(k) and k not in task["env"]]:
        del os.environ[key]
    os.environ.update(task["env"])
    if os.path.isdir(task["cwd"]):
        os.chdir(task["cwd"])


def _passed(name: str) -> bool:
    return name.startswith(PASSED_ENV) or name in PASSED_TOO


class EventProgress(Callback):
    """Training progress as events: the batch count (at most every BATCH_EVERY s), each epoch, and a heartbeat."""

    def __init__(self, emit: Emit, beat: Callable[[], None] | None = None) -> None:
        self.emit, self.beat = emit, beat
        self.batch, self._sent, self._beat = 0, 0.0, time.monotonic()

    def on_batch_end(self, trainer, batch, loss):
        self.batch = batch + 1
        now = time.monotonic()
        if now - self._sent >= BATCH_EVERY:
            self._sent = now
            self.emit("batch", batch=self.batch)
        if self.beat is not None and now - self._beat >= BEAT_EVERY:
            self._beat = now
            self.beat()

    def on_embed_progress(self, done, total):
        now = time.monotonic()
        if done >= total or now - self._sent >= BATCH_EVERY:
            self._sent = now
            self.emit("embed", done=done, total=total)

    def on_lr_search(self, done, total):
        self.emit("lr_search", done=done, total=total)

    def on_fit_start(self, trainer):
        self.emit("fit", epochs=trainer.config.epochs)  # after the fit-to-data rule: what will really train

    def on_epoch_end(self, trainer, logs):
        self.emit("epoch", logs=dict(logs), batches=self.batch)
        self.batch = 0


def run_job(task: dict[str, Any], store, stop, emit: Emit) -> None:
    """Train `task`'s run into `store` (a RunStore, or a stand-in that relays its writes), stopping when
    `stop.is_set()`; emits started, batch, epoch and a last 'done' with the status, error and result.

    The store is written before 'done' is emitted: whoever sees the job done finds its final status there.
    """
    from core.run.experiment import run_experiment

    run_id = task["run_id"]
    if stop.is_set():
        store.set_status(run_id, "cancelled", "cancelled before it started")
        emit("done", status="cancelled")
        return
    emit("started", pid=os.getpid())
    progress = EventProgress(emit, beat=lambda: store.beat(run_id))
    try:
        result = run_experiment(
            task["config"], store, callbacks=[progress], stop_event=stop, run_id=run_id, test=task.get("test", True)
        )
    except Diverged as exc:  # marked 'diverged' in the store by run_experiment
        emit("done", status="diverged", error=str(exc))
    except Exception as exc:  # marked 'failed' in the store by run_experiment
        emit("done", status="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        # the model stays here: it is in the store's checkpoint (asdict would deep-copy it)
        summary = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "model"}
        emit("done", status=result.status, result=summary)

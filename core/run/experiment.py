"""One run end to end, for every task, the UI and the CLI: data -> model -> trainer -> test metrics -> store."""

from __future__ import annotations

import threading
import traceback
from typing import Any

from torch import nn

from core.eval.baseline import run_baseline
from core.exec import distributed
from core.models import get_spec, transfer_weights
from core.models.embeddings import head_training
from core.run.config import fit_to_data, train_config
from core.run.lr_search import search_lr
from core.run.result import RunResult
from core.run.settings import RunConfig
from core.run.store import RunStore, RunStoreError
from core.run.training import Callback, Diverged, StopFlag, Strategy, Trainer, seed_everything
from core.tasks import get_task


class StoreCallback(Callback):
    """Writes every epoch to the run store as it ends, so a crash keeps the history so far."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def on_epoch_end(self, trainer, logs):
        self.store.log_epoch(self.run_id, logs)


def _data_progress(callbacks: list[Callback], done: int, total: int) -> None:
    for cb in callbacks:
        cb.on_data_progress(done, total)


def _embed_progress(callbacks: list[Callback], done: int, total: int) -> None:
    for cb in callbacks:
        cb.on_embed_progress(done, total)


def run_experiment(
    config: RunConfig,
    store: RunStore | None = None,
    callbacks: list[Callback] | None = None,
    stop_event: threading.Event | None = None,
    run_id: str | None = None,
    launch: distributed.Launch | None = None,
    test: bool = True,
) -> RunResult:
    """Train and evaluate one configuration. Failures mark the run 'failed' with the reason, then re-raise.

    `test=False` (a tuning trial, core/lab/tune.py): scored on the validation split alone; the test split is never read,
    and no checkpoint, artifacts or baseline are kept.

    With `nproc_per_node` > 1 (or a multi-machine `launch`) the run trains under torchrun (core.exec.distributed);
    inside one of torchrun's processes, this is that rank's part: rank 0 alone evaluates and writes the run.
    """
    if not distributed.in_torchrun() and (config.nproc_per_node > 1 or launch is not None):
        return distributed.run_distributed(config, store, callbacks, stop_event, run_id, launch)
    strategy = Strategy()  # one process alone; in one of torchrun's processes, a rank of its group (DDPStrategy)
    if distributed.in_torchrun():
        config, strategy, stop_event = distributed.join(config, stop_event)
        if strategy.rank != 0:  # rank 0 alone writes the run and reports progress
            store, run_id, callbacks = None, None, []
    rank = strategy.rank
    task = get_task(config.task)
    callbacks = list(callbacks or [])
    if store is not None and run_id is None:
        run_id = store.create(config.task, config)
    elif store is not None:
        store.set_status(run_id, "running")
    try:
        data = task.load_data(config, progress=lambda done, total: _data_progress(callbacks, done, total))
        details_extra: dict[str, Any] = {}

        def embed_progress(done: int, total: int) -> None:
            _embed_progress(callbacks, done, total)

        config, fitted = fit_to_data(config, task.train_size(data))
        spec = get_spec(config.task, config.model)
        stop = StopFlag(stop_event)

        def start(config: RunConfig) -> tuple[nn.Module, nn.Module, Any, bool]:
            return _start(task, spec, config, data, store, rank, embed_progress)

        if config.lr_search and not spec.closed_form:  # a few short runs on validation pick the lr first
            if strategy.world_size > 1:
                raise ValueError("the learning-rate search trains in one process: set the DDP processes to 1")
            config, details_extra["lr_search"] = search_lr(config, lambda c: start(c)[1:3], stop, callbacks)
        model, trained, objective, head_only = start(config)
        if head_only:
            details_extra["head_only"] = True
        if store is not None:
            callbacks.append(StoreCallback(store, run_id))
        callbacks.append(stop)
        trainer = Trainer(trained, objective, train_config(config), callbacks, strategy)
        if spec.closed_form:
            trainer.fit_closed_form(lambda: task.fit_closed_form(model, data, config))
        else:
            trainer.fit()
        if rank != 0:
            return RunResult(
                None, trainer.status, history=trainer.history, seconds=trainer.seconds, stop_reason=trainer.stop_reason
            )
        if not test:
            return _validation_only(trainer, model, data, config, store, run_id)
        model.cpu()  # evaluated, timed and saved on the CPU, whatever it trained on (the head shares its parameters)
        metrics, details, artifacts = task.evaluate(model, data)
        details.update(details_extra)
        metrics["train_seconds"] = trainer.seconds
        details.update(stop_reason=trainer.stop_reason, best_epoch=trainer.best_epoch, epochs_run=len(trainer.history))
        details["closed_form"] = spec.closed_form  # optimizer, learning rate, epochs and batch size played no part
        details["settings_note"] = fitted
        details["world_size"] = strategy.world_size  # processes that trained it (DDP)
        if trainer.status == "finished" and config.baseline:  # a stopped run ends now
            baseline = run_baseline(task, data, config, metrics, artifacts)
            if baseline is not None:
                details["baseline"] = baseline
        if store is not None:
            store.save_checkpoint(
                run_id,
                {
                    "model": model.state_dict(),
                    "config": config.to_dict(),  # a plain dict: checkpoints load with weights_only=True
                    "meta": data.meta,
                    "epoch": len(trainer.history),
                    "optimizer": trainer.optimizer.state_dict() if trainer.optimizer else {},
                },
            )
            store.save_artifacts(run_id, **artifacts)
            store.finish(run_id, trainer.status, metrics, details, trainer.seconds, config=config)
        return RunResult(
            run_id,
            trainer.status,
            metrics,
            details,
            trainer.history,
            trainer.seconds,
            model,
            trainer.stop_reason,
            config,
        )
    except Diverged as exc:
        if store is not None and run_id is not None:
            _record_failure(store, run_id, exc, "diverged", f"diverged: {exc}", {"stop_reason": str(exc)})
        raise
    except BaseException as exc:
        if store is not None and run_id is not None:
            reason, details = f"{type(exc).__name__}: {exc}", {"traceback": traceback.format_exc(limit=5)}
            _record_failure(store, run_id, exc, "failed", reason, details)
        raise


def _validation_only(trainer: Trainer, model: nn.Module, data, config, store, run_id) -> RunResult:
    """A tuning trial's end: the validation scores of the weights it ends with (batch norm recalibrated), its size,
    and its latency on one validation example; the test split stays unread."""
    from core.eval.metrics import latency_ms, model_megabytes, parameter_count

    metrics = dict(trainer.evaluate()) if trainer.history else {}
    model.cpu()
    metrics.update(parameters=parameter_count(model), size_mb=model_megabytes(model), train_seconds=trainer.seconds)
    x = getattr(data, "x", None)
    if isinstance(x, dict) and len(x.get("val", ())):
        metrics["latency_ms"] = latency_ms(model, x["val"][:1].cpu())
    details = {"validation_only": True, "stop_reason": trainer.stop_reason, "epochs_run": len(trainer.history)}
    if store is not None:
        store.finish(run_id, trainer.status, metrics, details, trainer.seconds, config=config)
    return RunResult(
        run_id, trainer.status, metrics, details, trainer.history, trainer.seconds, model, trainer.stop_reason, config
    )


def _start(task, spec, config: RunConfig, data, store: RunStore | None, rank: int, embed_progress) -> tuple:
    """A fresh model as a run starts it: (the model, the module that trains, its objective, head only?). Seeded;
    fine-tuned from its source run when it has one; with a frozen backbone, the head alone on the backbone's
    embeddings (computed once, cached on disk)."""
    seed_everything(config.seed)  # the model's initial weights come from the seed too
    model = task.build_model(config, data.meta)
    if config.init_from and rank == 0:  # under DDP the other ranks start from rank 0's weights
        if store is None:
            raise ValueError("fine-tuning from a run needs the run store")
        transfer_weights(model, store.load_checkpoint(config.init_from)["model"])
    objective = task.make_objective(config, data)
    head_only = None if spec.closed_form else head_training(model, objective, config, data, embed_progress)
    return (model, *head_only, True) if head_only is not None else (model, model, objective, False)


def _record_failure(store: RunStore, run_id: str, exc: BaseException, status: str, error: str, details: dict) -> None:
    """Mark the run failed; if even that cannot be written (a full disk), the error that ended the run is still the
    one raised, with a note, not the store's "disk I/O error" that followed it."""
    try:
        store.fail(run_id, status, error, details)
    except RunStoreError as also:
        exc.add_note(f"the run could not be marked {status} either: {also}")

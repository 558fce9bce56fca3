"""One run end to end, for every task, the UI and the CLI: data -> model -> trainer -> test metrics -> store."""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from core.models import transfer_weights
from core.runs import RunStore
from core.tasks import get_task
from core.training import Callback, StopFlag, TrainConfig, Trainer, seed_everything

TRAIN_KEYS = set(TrainConfig().to_dict())


def make_config(task: str, model: str, **options: Any) -> dict[str, Any]:
    """A run's full, flat, JSON-able configuration with every default filled in."""
    config: dict[str, Any] = {
        "task": task,
        "model": model,
        "dataset": None,
        "data": None,
        "model_options": {},
        "augment": {},
        "init_from": None,
        "weights_path": None,
        "split_seed": 0,  # the train/val/test split stays put while `seed` varies the training
        **TrainConfig().to_dict(),
    }
    unknown = set(options) - set(config)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
    config.update({k: v for k, v in options.items() if v is not None or k in ("dataset", "data")})
    if not config["dataset"] and not config["data"]:
        config["dataset"] = get_task(task).list_datasets()[0]
    return config


def train_config(config: dict[str, Any]) -> TrainConfig:
    return TrainConfig(**{k: v for k, v in config.items() if k in TRAIN_KEYS})


@dataclass
class RunResult:
    run_id: str | None
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    model: nn.Module | None = None
    stop_reason: str | None = None


class StoreCallback(Callback):
    """Writes every epoch to the run store as it ends, so a crash keeps the history so far."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def on_epoch_end(self, trainer, logs):
        self.store.log_epoch(self.run_id, logs)


def run_experiment(
    config: dict[str, Any],
    store: RunStore | None = None,
    callbacks: list[Callback] | None = None,
    stop_event: threading.Event | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Train and evaluate one configuration. Failures mark the run 'failed' with the reason, then re-raise."""
    task = get_task(config["task"])
    callbacks = list(callbacks or [])
    if store is not None and run_id is None:
        run_id = store.create(config["task"], config)
    elif store is not None:
        store.set_status(run_id, "running")
    try:
        data = task.load_data(config)
        seed_everything(config.get("seed", 0))  # the model's initial weights come from the seed too
        model = task.build_model(config, data.meta)
        if config.get("init_from"):
            if store is None:
                raise ValueError("fine-tuning from a run needs the run store")
            source = store.load_checkpoint(config["init_from"])
            transfer_weights(model, source["model"])
        cfg = train_config(config)
        if store is not None:
            callbacks.append(StoreCallback(store, run_id))
        callbacks.append(StopFlag(stop_event))
        if getattr(model, "sklearn_fitted", False):
            trainer = _fit_baseline(task, model, data, config, cfg, callbacks)
        else:
            trainer = Trainer(model, task.make_objective(config, data), cfg, callbacks).fit()
        trainer.model.cpu()  # evaluated, timed and saved on the CPU, whatever it trained on
        metrics, details, artifacts = task.evaluate(trainer.model, data)
        metrics["train_seconds"] = trainer.seconds
        details.update(stop_reason=trainer.stop_reason, best_epoch=trainer.best_epoch, epochs_run=len(trainer.history))
        if getattr(model, "sklearn_fitted", False):
            details["closed_form"] = True  # optimizer, learning rate, epochs and batch size played no part
        if store is not None:
            store.save_checkpoint(
                run_id,
                {
                    "model": trainer.model.state_dict(),
                    "config": config,
                    "meta": data.meta,
                    "epoch": len(trainer.history),
                    "optimizer": trainer.optimizer.state_dict() if trainer.optimizer else {},
                },
            )
            store.save_artifacts(run_id, **artifacts)
            store.finish(run_id, trainer.status, metrics, details, trainer.seconds)
        return RunResult(
            run_id,
            trainer.status,
            metrics,
            details,
            trainer.history,
            trainer.seconds,
            trainer.model,
            trainer.stop_reason,
        )
    except BaseException as exc:
        if store is not None and run_id is not None:
            reason = f"{type(exc).__name__}: {exc}"
            store.finish(run_id, "failed", {}, {"traceback": traceback.format_exc(limit=5)}, 0.0, error=reason)
        raise


def _fit_baseline(task, model, data, config, cfg: TrainConfig, callbacks: list[Callback]) -> Trainer:
    """Closed-form / scikit-learn models skip gradient descent but emit the same events (one 'epoch')."""
    one_pass = TrainConfig(**{**cfg.to_dict(), "epochs": 1, "device": "cpu"})
    trainer = Trainer(model, task.make_objective(config, data), one_pass, callbacks)
    start = time.perf_counter()
    trainer.status = "running"
    trainer._emit("on_fit_start")
    task.fit_baseline(model, data, config)
    trainer.seconds = time.perf_counter() - start
    logs = {"epoch": 1, **trainer.evaluate(), "seconds": trainer.seconds}
    trainer.history.append(logs)
    trainer._emit("on_epoch_end", logs)
    trainer.status = "finished"
    trainer._emit("on_fit_end", trainer.status)
    return trainer

"""The one trainer: a fit loop that emits events to callbacks, for every task, the UI and the CLI."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from core.options import Option

OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")
OPTIMIZER_LABELS = {
    "sgd": "SGD",
    "momentum": "SGD + momentum",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adamw": "AdamW",
}
SCHEDULES = ("constant", "cosine")  # cosine: the learning rate decays to 0 over the epochs


def setting(default: Any, label: str, low=None, high=None, kind: str = "float", **more: Any) -> Any:
    """A config field with its default and its Option (label, range): the one place both are written."""
    option = Option("", label, default, low, high, kind=kind, **more)
    return field(default=default, metadata={"option": option})


@dataclass
class TrainConfig:
    """What the trainer needs; each field's default and range live here and nowhere else."""

    optimizer: str = setting("adam", "Optimizer", kind="choice", choices=OPTIMIZERS)
    lr: float = setting(1e-3, "Learning rate", 1e-6, 10.0, step=1e-4)
    epochs: int = setting(10, "Epochs", 1, 500, kind="int")
    batch_size: int = setting(64, "Batch size", 1, 8192, kind="int")
    weight_decay: float = setting(0.0, "Weight decay", 0.0, 1.0, step=1e-4)
    seed: int = setting(0, "Seed", 0, 1_000_000, kind="int")
    device: str = setting("auto", "Device", kind="choice", choices=("auto", "cpu", "cuda"))
    patience: int | None = setting(
        None,
        "Early stopping patience",
        0,
        100,
        kind="int",
        optional=True,
        help="Epochs without validation improvement; 0 = off",
    )
    max_batches: int | None = setting(None, "Batches per epoch (smoke setting)", 1, 10**9, kind="int", optional=True)
    amp: bool = setting(False, "Mixed precision (CUDA only)", kind="bool")
    schedule: str = setting("constant", "LR schedule", kind="choice", choices=SCHEDULES)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_options(cls: type) -> dict[str, Option]:
    """A config dataclass's settings: field name -> its Option (named after the field)."""
    return {f.name: replace(f.metadata["option"], name=f.name) for f in fields(cls) if "option" in f.metadata}


class StopTraining(Exception):
    """Raised by a callback to end training early, keeping the model. The subclass says why."""

    status = "finished"


class StopRequested(StopTraining):
    """Someone asked to stop (the Stop button, Ctrl-C): the run is 'stopped'."""

    status = "stopped"


class EarlyStopped(StopTraining):
    """Validation stopped improving: the run 'finished' early, with its best weights."""


class Diverged(Exception):
    """The loss became NaN or infinite: the model is useless, so the run is 'diverged', not 'finished'."""


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for data shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


def make_optimizer(name: str, params: Iterable[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


class Objective:
    """What a task trains: batches of tensors and a loss. Subclasses define `loss`.

    `loss(model, batch)` returns (mean loss, batch size, extra sums) where extra sums
    (e.g. {"correct": 57}) are turned into epoch averages such as `accuracy`.
    """

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterable[Sequence]:
        raise NotImplementedError

    def val_batches(self, batch_size: int) -> Iterable[Sequence]:
        return []

    def loss(self, model: nn.Module, batch: Sequence) -> tuple[torch.Tensor, int, dict[str, float]]:
        raise NotImplementedError

    def on_epoch_start(self, epoch: int) -> None:
        """Hook for per-epoch work such as resampling negatives."""

    def val_metrics(self, model: nn.Module) -> dict[str, float]:
        """Extra validation metrics beyond loss (e.g. ranking metrics). Default: none."""
        return {}


class TensorClassification(Objective):
    """Cross-entropy over in-memory tensors, with an optional batch augmentation."""

    def __init__(self, x_train, y_train, x_val=None, y_val=None, augment=None) -> None:
        self.x_train, self.y_train = x_train, y_train
        self.x_val, self.y_val = x_val, y_val
        self.augment = augment

    def train_batches(self, batch_size, generator):
        order = torch.randperm(len(self.y_train), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x = self.x_train[idx]
            if self.augment is not None:
                x = self.augment(x, generator)
            yield x, self.y_train[idx]

    def val_batches(self, batch_size):
        if self.x_val is None or len(self.y_val) == 0:
            return
        step = max(batch_size, 256)  # evaluation needs no small batches; one step for the range and the slice
        for start in range(0, len(self.y_val), step):
            yield self.x_val[start : start + step], self.y_val[start : start + step]

    def loss(self, model, batch):
        x, y = batch
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        correct = (logits.argmax(1) == y).sum().item()
        return loss, len(y), {"correct": correct}


class Callback:
    """Base class: override the events you need. Raise StopTraining to end the fit."""

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None: ...

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None: ...

    def on_fit_end(self, trainer: Trainer, status: str) -> None: ...


class EarlyStopping(Callback):
    """Stop when validation loss has not improved for `patience` epochs; restore the best weights."""

    def __init__(self, patience: int, monitor: str = "val_loss") -> None:
        self.patience, self.monitor = patience, monitor
        self.best_: float = float("inf")
        self.best_state_: dict | None = None
        self.bad_epochs_ = 0

    def on_epoch_end(self, trainer, logs):
        value = logs.get(self.monitor)
        if value is None:
            return
        if value < self.best_ - 1e-6:
            self.best_, self.bad_epochs_ = value, 0
            self.best_state_ = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
            trainer.best_epoch = logs["epoch"]
        else:
            self.bad_epochs_ += 1
            if self.bad_epochs_ >= self.patience:
                raise EarlyStopped(f"early stopping: no {self.monitor} improvement in {self.patience} epochs")

    def on_fit_end(self, trainer, status):
        if self.best_state_ is not None:
            trainer.model.load_state_dict(self.best_state_)


class StopFlag(Callback):
    """Ends training after the current batch once `request()` is called (from any thread)."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()

    def request(self) -> None:
        self.event.set()

    def on_batch_end(self, trainer, batch, loss):
        if self.event.is_set():
            raise StopRequested("stopped by the user")


@dataclass
class Trainer:
    """Fits `model` on `objective` under `config`, reporting to `callbacks`."""

    model: nn.Module
    objective: Objective
    config: TrainConfig = field(default_factory=TrainConfig)
    callbacks: list[Callback] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.config.device)
        self.history: list[dict[str, float]] = []
        self.status = "created"
        self.stop_reason: str | None = None
        self.best_epoch: int | None = None
        self.epoch = 0
        self.seconds = 0.0
        self.optimizer: torch.optim.Optimizer | None = None

    def _emit(self, event: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(self, *args)

    def _to_device(self, batch: Sequence) -> Sequence:
        if self.device.type == "cpu":
            return batch  # the objectives' tensors already live on the CPU
        return [b.to(self.device, non_blocking=True) if torch.is_tensor(b) else b for b in batch]

    def train_one_epoch(self, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict[str, float]:
        self.model.train()
        total, n, extras = 0.0, 0, {}
        use_amp = self.config.amp and self.device.type == "cuda"
        for i, batch in enumerate(self.objective.train_batches(self.config.batch_size, generator)):
            if self.config.max_batches is not None and i >= self.config.max_batches:
                break
            batch = self._to_device(batch)
            if use_amp:
                with torch.autocast(self.device.type):
                    loss, size, sums = self.objective.loss(self.model, batch)
            else:
                loss, size, sums = self.objective.loss(self.model, batch)
            optimizer.zero_grad(set_to_none=True)
            if use_amp:
                self.scaler.scale(loss).backward()
                self.scaler.step(optimizer)
                self.scaler.update()
            else:
                loss.backward()
                optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                raise Diverged(
                    f"the training loss became {value} in epoch {self.epoch}, batch {i + 1}: lower the learning rate "
                    f"(now {self.config.lr:g}) or look for extreme values in the data"
                )
            total += value * size
            n += size
            for k, v in sums.items():
                extras[k] = extras.get(k, 0.0) + v
            self._emit("on_batch_end", i, value)
        return _epoch_logs("train", total, n, extras)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        total, n, extras = 0.0, 0, {}
        for batch in self.objective.val_batches(self.config.batch_size):
            loss, size, sums = self.objective.loss(self.model, self._to_device(batch))
            total += loss.item() * size
            n += size
            for k, v in sums.items():
                extras[k] = extras.get(k, 0.0) + v
        logs = _epoch_logs("val", total, n, extras) if n else {}
        logs.update(self.objective.val_metrics(self.model))
        return logs

    def fit(self) -> Trainer:
        """Gradient descent over the epochs; ends 'finished', 'stopped', 'diverged' (raises) or 'failed' (raises)."""
        cfg = self.config
        generator = seed_everything(cfg.seed)
        self.model.to(self.device)
        optimizer = self.optimizer = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.weight_decay)
        scheduler = None
        if cfg.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
        elif cfg.schedule != "constant":
            raise ValueError(f"unknown schedule {cfg.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and self.device.type == "cuda")
        if cfg.patience is not None and not any(isinstance(c, EarlyStopping) for c in self.callbacks):
            self.callbacks.append(EarlyStopping(cfg.patience))

        def epochs() -> None:
            for epoch in range(1, cfg.epochs + 1):
                self.epoch = epoch
                self.objective.on_epoch_start(epoch)
                logs = {"epoch": epoch, **self.train_one_epoch(optimizer, generator), **self.evaluate()}
                logs["seconds"] = time.perf_counter() - self._start
                logs["lr"] = optimizer.param_groups[0]["lr"]
                if scheduler is not None:
                    scheduler.step()
                self.history.append(logs)
                self._emit("on_epoch_end", logs)

        return self._run(epochs)

    def fit_closed_form(self, fit: Callable[[], Any]) -> Trainer:
        """A model fitted without gradient descent (scikit-learn, counting, a linear solve), on the CPU.

        The same events as `fit`, with the one fitting pass as epoch 1, so progress bars, the run store and
        the pages treat it like any other run.
        """
        self.device = torch.device("cpu")
        seed_everything(self.config.seed)

        def one_pass() -> None:
            self.epoch = 1
            fit()
            logs = {"epoch": 1, **self.evaluate(), "seconds": time.perf_counter() - self._start}
            self.history.append(logs)
            self._emit("on_epoch_end", logs)

        return self._run(one_pass)

    def _run(self, body: Callable[[], Any]) -> Trainer:
        """Run a fit body between on_fit_start and on_fit_end; the exception type decides the status."""
        self.status = "running"
        self._start = time.perf_counter()
        try:
            self._emit("on_fit_start")
            body()
            self.status = "finished"
        except StopTraining as stop:
            self.stop_reason, self.status = str(stop), stop.status
        except KeyboardInterrupt:
            self.stop_reason, self.status = "interrupted (Ctrl-C)", "stopped"
        except BaseException as exc:
            self.status = "diverged" if isinstance(exc, Diverged) else "failed"
            self.stop_reason = str(exc) if isinstance(exc, Diverged) else None
            self.seconds = time.perf_counter() - self._start
            self._emit("on_fit_end", self.status)
            raise
        self.seconds = time.perf_counter() - self._start
        self.model.eval()
        self._emit("on_fit_end", self.status)
        return self


def _epoch_logs(prefix: str, total: float, n: int, extras: dict[str, float]) -> dict[str, float]:
    logs = {f"{prefix}_loss": total / max(n, 1)}
    if "correct" in extras:
        logs[f"{prefix}_accuracy"] = extras["correct"] / max(n, 1)
    for k, v in extras.items():
        if k != "correct":
            logs[f"{prefix}_{k}"] = v / max(n, 1)
    return logs

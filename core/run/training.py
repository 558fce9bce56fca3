"""The one trainer: a fit loop that emits events to callbacks, for every task, the UI and the CLI."""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from core.run.options import Option

OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")
OPTIMIZER_LABELS = {
    "sgd": "SGD",
    "momentum": "SGD + momentum",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adamw": "AdamW",
}
RECALIBRATION_EXAMPLES = 2048  # training examples whose batch statistics set batch norm's running ones at the end
SCHEDULES = ("constant", "cosine")  # cosine: the learning rate decays to 0 over the epochs


def setting(default: Any, label: str, low=None, high=None, kind: str = "float", **more: Any) -> Any:
    """A config field with its default and its Option (label, range): the one place both are written."""
    option = Option("", label, default, low, high, kind=kind, **more)
    return field(default=default, metadata={"option": option})


MODEL_PANEL = {"panel": True, "per_model": True}  # on the training panel, and a model's spec recommends its value


@dataclass
class TrainConfig:
    """What the trainer needs; each field's default and range live here and nowhere else."""

    optimizer: str = setting(
        "adam",
        "Optimizer",
        kind="choice",
        choices=OPTIMIZERS,
        choice_labels=tuple(OPTIMIZER_LABELS.items()),
        **MODEL_PANEL,
    )
    lr: float = setting(1e-3, "Learning rate", 1e-6, 10.0, step=1e-4, **MODEL_PANEL)
    epochs: int = setting(10, "Epochs", 1, 500, kind="int", **MODEL_PANEL)
    batch_size: int = setting(64, "Batch size", 1, 8192, kind="int", **MODEL_PANEL)
    weight_decay: float = setting(0.0, "Weight decay", 0.0, 1.0, step=1e-4, **MODEL_PANEL)
    seed: int = setting(0, "Seed", 0, 1_000_000, kind="int", panel=True)
    device: str = setting("auto", "Device", kind="choice", choices=("auto", "cpu", "cuda"))
    patience: int | None = setting(
        None,
        "Early stopping patience",
        0,
        100,
        kind="int",
        optional=True,
        help="Epochs without validation improvement; 0 = off",
        **MODEL_PANEL,
    )
    max_batches: int | None = setting(None, "Batches per epoch (smoke setting)", 1, 10**9, kind="int", optional=True)
    amp: bool = setting(False, "Mixed precision (CUDA only)", kind="bool")
    schedule: str = setting("constant", "LR schedule", kind="choice", choices=SCHEDULES, **MODEL_PANEL)

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


@dataclass(frozen=True)
class Shard:
    """This process's part of every training batch: rank `rank` of `world` processes (DDP), or all of it.

    Every rank draws the same permutation (from `order`, seeded alike on every rank and used for nothing else)
    and takes its slice of each batch of `batch_size`: the global batch stays `batch_size`, each rank computes
    about batch_size / world of it, and the averaged gradients are those of the whole batch, so the learning
    rate, the steps per epoch and `max_batches` mean what they mean in one process.
    """

    rank: int = 0
    world: int = 1
    order: torch.Generator | None = None


class Strategy:
    """How the trainer's processes work together; this one is one process alone, so every hook leaves things be.

    The trainer owns the loop and calls the strategy at fixed points: `setup` once before the first epoch,
    `average_gradients` between backward and the optimizer's step, `reduce_batch` after every step, `reduce_epoch`
    for an epoch's (and validation's) sums, `val_share` and `average_buffers` in evaluation and batch norm's
    recalibration. core.exec.ddp.DDPStrategy is the one for a rank of a DDP process group.
    """

    rank = 0
    world_size = 1

    def setup(self, trainer: Trainer) -> nn.Module:
        """This process ready to train `trainer`'s model (on its device): returns what the objective's `loss` gets."""
        return trainer.model

    def average_gradients(self, model: nn.Module) -> None:
        """The gradients of every process's part of the batch averaged into `model`'s: one process has them all."""

    def reduce_batch(self, loss: float, size: int, stop: bool) -> tuple[float, bool]:
        """(the batch's mean loss over every process, whether any was asked to stop): `stop` is whether this one was.

        One process: its own loss, and no stop here; its StopFlag stops it after the batch's events.
        """
        return loss, False

    def reduce_epoch(self, total: float, n: int, extras: dict[str, float]) -> tuple[float, int, dict[str, float]]:
        """Sums (loss, examples, extra sums) added up over every process."""
        return total, n, extras

    def val_share(self, batches: Iterable[Sequence]) -> Iterable[Sequence]:
        """This process's part of the validation batches: all of them in one process."""
        return batches

    def average_buffers(self, tensors: Iterable[torch.Tensor]) -> None:
        """Tensors averaged in place over every process (batch norm's recomputed statistics)."""


class Objective:
    """What a task trains: batches of tensors and a loss. Subclasses define `loss`.

    `loss(model, batch)` returns (mean loss, batch size, extra sums) where extra sums
    (e.g. {"correct": 57}) are turned into epoch averages such as `accuracy`.
    """

    shard = Shard()  # the strategy sets this process's shard under DDP (core.exec.ddp.DDPStrategy.setup)
    # True when `loss` calls nothing but `model(...)`: under DDP the strategy then hands it the DistributedDataParallel
    # wrapper. Objectives that call a model's own methods (score_pairs, predict) get the bare model, and the
    # strategy all-reduces their gradients itself (the same average, without DDP's overlap of communication).
    loss_calls_forward = False

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterable[Sequence]:
        raise NotImplementedError

    def batch_indices(self, n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Batches of a seeded permutation of range(n): all of each in one process, this rank's slice under DDP.

        Under DDP the ranks' slices are disjoint and together cover every example once per epoch; a last batch
        smaller than the world joins the one before it, so no rank is ever handed an empty slice.
        """
        rank, world, order_generator = self.shard.rank, self.shard.world, self.shard.order
        order = torch.randperm(n, generator=generator if world == 1 else order_generator)
        starts = list(range(0, n, batch_size))
        if world > 1 and len(starts) > 1 and n - starts[-1] < world:
            starts.pop()
        for start, end in itertools.pairwise([*starts, n]):
            idx = order[start:end]
            yield idx if world == 1 else idx.tensor_split(world)[rank]

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

    loss_calls_forward = True

    def train_batches(self, batch_size, generator):
        for idx in self.batch_indices(len(self.y_train), batch_size, generator):
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

    def on_data_progress(self, done: int, total: int) -> None:
        """How far loading the run's data has got (a large folder), before the trainer exists."""

    def on_embed_progress(self, done: int, total: int) -> None:
        """How far a frozen backbone's embedding pass has got (core.models.embeddings), before the trainer exists."""

    def on_lr_search(self, done: int, total: int) -> None:
        """How far a run's learning-rate search has got, in epochs of its short runs (core.run.lr_search)."""

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

    def restore(self, trainer) -> None:
        """The best epoch's weights back in the model (the trainer calls this when training ends)."""
        if self.best_state_ is not None:
            trainer.model.load_state_dict(self.best_state_)


class StopFlag(Callback):
    """Ends training after the current batch once `request()` is called (from any thread)."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()

    def request(self) -> None:
        self.event.set()

    def on_batch_end(self, trainer, batch, loss):
        if self.event.is_set() and trainer.world_size == 1:  # more processes stop together (Strategy.reduce_batch)
            raise StopRequested("stopped by the user")


@dataclass
class Trainer:
    """Fits `model` on `objective` under `config`, reporting to `callbacks`."""

    model: nn.Module
    objective: Objective
    config: TrainConfig = field(default_factory=TrainConfig)
    callbacks: list[Callback] = field(default_factory=list)
    strategy: Strategy = field(default_factory=Strategy)  # one process; core.exec.ddp.DDPStrategy for a DDP rank

    def __post_init__(self) -> None:
        self.device = resolve_device(self.config.device)
        self.history: list[dict[str, float]] = []
        self.status = "created"
        self.stop_reason: str | None = None
        self.best_epoch: int | None = None
        self.epoch = 0
        self.steps = 0  # optimizer steps taken
        self.seconds = 0.0
        self.optimizer: torch.optim.Optimizer | None = None
        self._step_model: nn.Module = self.model  # what `loss` gets while training (the strategy's setup says)

    @property
    def rank(self) -> int:
        return self.strategy.rank

    @property
    def world_size(self) -> int:
        return self.strategy.world_size

    def _emit(self, event: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(self, *args)

    def _to_device(self, batch: Sequence) -> Sequence:
        if self.device.type == "cpu":
            return batch  # the objectives' tensors already live on the CPU
        return [b.to(self.device, non_blocking=True) if torch.is_tensor(b) else b for b in batch]

    def train_one_epoch(self, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict[str, float]:
        self._step_model.train()
        total, n, extras = 0.0, 0, {}
        use_amp = self.config.amp and self.device.type == "cuda"
        for i, batch in enumerate(self.objective.train_batches(self.config.batch_size, generator)):
            if self.config.max_batches is not None and i >= self.config.max_batches:
                break
            batch = self._to_device(batch)
            if use_amp:
                with torch.autocast(self.device.type):
                    loss, size, sums = self.objective.loss(self._step_model, batch)
            else:
                loss, size, sums = self.objective.loss(self._step_model, batch)
            optimizer.zero_grad(set_to_none=True)
            if use_amp:
                self.scaler.scale(loss).backward()
                self.strategy.average_gradients(self.model)
                self.scaler.step(optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.strategy.average_gradients(self.model)
                optimizer.step()
            self.steps += 1
            value = loss.item()
            total += value * size
            n += size
            value, stop = self.strategy.reduce_batch(value, size, self._stop_asked())
            if not math.isfinite(value):
                raise Diverged(
                    f"the training loss became {value} in epoch {self.epoch}, batch {i + 1}: lower the learning rate "
                    f"(now {self.config.lr:g}) or look for extreme values in the data"
                )
            if stop:
                raise StopRequested("stopped by the user")
            for k, v in sums.items():
                extras[k] = extras.get(k, 0.0) + v
            self._emit("on_batch_end", i, value)
        return _epoch_logs("train", *self.strategy.reduce_epoch(total, n, extras))

    def _stop_asked(self) -> bool:
        """Whether this process was asked to stop (a StopFlag among the callbacks)."""
        return any(cb.event.is_set() for cb in self.callbacks if isinstance(cb, StopFlag))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        total, n, extras = 0.0, 0, {}
        for batch in self.strategy.val_share(self.objective.val_batches(self.config.batch_size)):
            loss, size, sums = self.objective.loss(self.model, self._to_device(batch))
            total += loss.item() * size
            n += size
            for k, v in sums.items():
                extras[k] = extras.get(k, 0.0) + v
        total, n, extras = self.strategy.reduce_epoch(total, n, extras)
        logs = _epoch_logs("val", total, n, extras) if n else {}
        logs.update(self.objective.val_metrics(self.model))
        return logs

    def fit(self) -> Trainer:
        """Gradient descent over the epochs; ends 'finished', 'stopped', 'diverged' (raises) or 'failed' (raises)."""
        cfg = self.config
        generator = seed_everything(cfg.seed + self.rank)  # rank 0 draws what one process draws; the others their own
        self.model.to(self.device)
        self._step_model = self.strategy.setup(self)
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

        return self._run(epochs, settle=True)

    @torch.no_grad()
    def recalibrate_batch_norm(self) -> int:
        """Batch norm's running mean and variance, recomputed for the final weights over training batches drawn
        as in training (about RECALIBRATION_EXAMPLES examples); returns the layers recomputed.

        During training they are a moving average (momentum 0.1) of batches seen under earlier weights. After a
        short run that average is still mostly its starting value (mean 0, variance 1): evaluation then normalises
        with the wrong statistics, and a batch-norm model can score at chance while its training batches score
        near 1. The same pass `torch.optim.swa_utils.update_bn` makes, through the objective's own batches (the
        model's forward in train mode, its augmentation included). Under DDP every rank averages its shard's
        statistics with the others', so every rank keeps the same.
        """
        layers = [
            m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        ]
        if not layers:
            return 0
        momenta = [m.momentum for m in layers]
        kept = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers]
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: every batch counts the same
        self.model.train()
        generator = torch.Generator().manual_seed(self.config.seed + 7919 + self.rank)
        batches = max(1, math.ceil(RECALIBRATION_EXAMPLES / self.config.batch_size))
        if self.config.max_batches is not None:
            batches = min(batches, self.config.max_batches)
        try:
            for batch in itertools.islice(self.objective.train_batches(self.config.batch_size, generator), batches):
                self.objective.loss(self.model, self._to_device(batch))  # the model itself: DDP's forward would
                # copy rank 0's buffers over this rank's
        except BaseException:  # interrupted or failed half way: the statistics training left, not half of new ones
            for m, (mean, var, count) in zip(layers, kept):
                m.running_mean.copy_(mean), m.running_var.copy_(var), m.num_batches_tracked.copy_(count)
            raise
        finally:
            for m, momentum in zip(layers, momenta):
                m.momentum = momentum
            self.model.eval()
        self.strategy.average_buffers(buffer for m in layers for buffer in (m.running_mean, m.running_var))
        return len(layers)

    def fit_closed_form(self, fit: Callable[[], Any]) -> Trainer:
        """A model fitted without gradient descent (scikit-learn, counting, a linear solve), on the CPU.

        The same events as `fit`, with the one fitting pass as epoch 1, so progress bars, the run store and
        the pages treat it like any other run.
        """
        if self.world_size > 1:
            raise ValueError("a model fitted in closed form is fitted in one process: it cannot be trained with DDP")
        self.device = torch.device("cpu")
        seed_everything(self.config.seed)

        def one_pass() -> None:
            self.epoch = 1
            fit()
            logs = {"epoch": 1, **self.evaluate(), "seconds": time.perf_counter() - self._start}
            self.history.append(logs)
            self._emit("on_epoch_end", logs)

        return self._run(one_pass)

    def _settle(self, recalibrate: bool) -> None:
        """The weights a run keeps: early stopping's best back, then batch norm's statistics for them (when any
        step was taken). A Ctrl-C during that pass leaves the statistics as training left them and stops the run."""
        for cb in self.callbacks:
            if isinstance(cb, EarlyStopping):
                cb.restore(self)
        if self.steps and recalibrate:
            try:
                self.recalibrate_batch_norm()
            except KeyboardInterrupt:
                self.stop_reason, self.status = "interrupted (Ctrl-C)", "stopped"

    def _run(self, body: Callable[[], Any], settle: bool = False) -> Trainer:
        """Run a fit body between on_fit_start and on_fit_end; the exception type decides the status.

        `settle` (gradient descent): a run that ends with weights to keep (finished, stopped, stopped early) gets
        its best epoch's weights back and batch norm's running statistics recomputed for them.
        """
        self.status = "running"
        self._start = time.perf_counter()
        try:
            self._emit("on_fit_start")
            recalibrate = settle
            try:
                body()
                self.status = "finished"
            except StopTraining as stop:
                self.stop_reason, self.status = str(stop), stop.status
            except KeyboardInterrupt:
                self.stop_reason, self.status = "interrupted (Ctrl-C)", "stopped"
                # under DDP each rank is interrupted at its own point, so no rank may wait on the others again
                recalibrate = settle and self.world_size == 1
            if settle:
                self._settle(recalibrate)
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

"""A short learning-rate search on the validation split, run inside a job before its real training.

A race that varies something that moves the right learning rate (the optimizer, the batch size, batch norm, the
model) compares one learning rate, not two variants, when every variant trains at the same one: plain SGD at
Adam's 3e-3 has barely moved when Adam has converged. So each such variant's runs first try a few log-spaced
learning rates around a centre that suits their optimizer, each for a fraction of the run's epochs, score them on
the validation split (never the test split), and then train at the best.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from core.eval.metric_info import metric
from core.run.config import RUN_OPTIONS
from core.run.settings import RunConfig
from core.run.training import Callback, Diverged, StopFlag, Trainer

# An optimizer's usual learning rate relative to Adam's, to centre the search when a race changes the optimizer:
# the libraries' defaults and the usual recipes (Adam 1e-3, RMSprop 1e-3 as Keras has it, Adagrad 1e-2 as PyTorch
# has it, SGD with Nesterov momentum 0.9 about 1e-2, plain SGD about 3e-2 to 0.1, several times momentum's: its step
# is not amplified by 1 / (1 - momentum)).
TYPICAL_LR_RATIO = {"adam": 1.0, "adamw": 1.0, "rmsprop": 1.0, "adagrad": 10.0, "momentum": 10.0, "sgd": 30.0}
SEARCH_POINTS = 5  # learning rates tried per run: the centre and two half-decades either side
SEARCH_FRACTION = 5  # each tries 1/SEARCH_FRACTION of the run's epochs, so the search costs about one more run
SEARCH_EXTEND = 2  # more steps past the edge when the best rate is the highest or lowest tried
OWN_LR_NOTE = (
    "Each variant trained at its own best learning rate, picked by short runs scored on the validation split (the "
    "test split is read only by the runs compared), so the verdict compares the variants, not one learning rate "
    "that suits one of them."
)


def ladder(value: float) -> float:
    """The nearest value on the 1-3-10 ladder (..., 1e-3, 3e-3, 1e-2, ...) in log terms."""
    decade = math.floor(math.log10(value))
    steps = [10**decade, 3 * 10**decade, 10 ** (decade + 1)]
    return float(f"{min(steps, key=lambda s: abs(math.log(s / value))):.0e}")


def search_grid(lr: float, optimizer: str, lr_was_for: str) -> list[float]:
    """The learning rates a run of `optimizer` tries, for a configuration whose `lr` was chosen for `lr_was_for`:
    SEARCH_POINTS values of the 1-3-10 ladder centred on lr scaled by the two optimizers' usual ratio."""
    centre = ladder(lr * TYPICAL_LR_RATIO.get(optimizer, 1.0) / TYPICAL_LR_RATIO.get(lr_was_for, 1.0))
    half = SEARCH_POINTS // 2
    # half a decade a step: c/10, c/3, c, 3c, 10c (a ladder value times 10^(k/2), snapped back onto the ladder)
    return [ladder(centre * 10 ** (k / 2)) for k in range(-half, SEARCH_POINTS - half)]


def search_epochs(epochs: int) -> int:
    return max(1, round(epochs / SEARCH_FRACTION))


def score_key(task: str) -> tuple[str, bool]:
    """The validation number a search ranks by (the task's primary metric on validation) and whether higher is
    better; validation loss where the task's objective logs no such number."""
    from core.tasks import get_task

    name = get_task(task).spec.primary_metric
    return f"val_{name}", metric(name).higher_is_better


def ended_scores(trainer: Trainer) -> dict[str, float]:
    """Validation scores of the weights a fit ended with (the best epoch's under early stopping), scored again with
    the batch norm statistics the trainer recomputed for them at the end."""
    if not trainer.history:
        return {}
    return {**trainer.history[(trainer.best_epoch or len(trainer.history)) - 1], **trainer.evaluate()}


class SearchProgress(Callback):
    """Each search epoch as `on_lr_search(done, total)` to the run's callbacks (the job's progress)."""

    def __init__(self, callbacks: Sequence[Callback], done: int, total: int) -> None:
        self.callbacks, self.done, self.total = callbacks, done, total

    def on_epoch_end(self, trainer, logs):
        self.done += 1
        for cb in self.callbacks:
            cb.on_lr_search(self.done, self.total)


def best_lr(tried: Sequence[dict[str, Any]], higher_is_better: bool) -> float | None:
    """The learning rate with the best validation score; ties go to the lower validation loss, then the lower lr.
    None when every one diverged."""
    scored = [t for t in tried if t["score"] is not None]
    if not scored:
        return None
    sign = 1 if higher_is_better else -1
    return min(scored, key=lambda t: (-sign * t["score"], t.get("val_loss", math.inf), t["lr"]))["lr"]


def search_lr(
    config: RunConfig,
    prepare: Callable[[RunConfig], tuple[Any, Any]],
    stop: StopFlag,
    callbacks: Sequence[Callback] = (),
) -> tuple[RunConfig, dict[str, Any]]:
    """Try each of `config.lr_search`'s learning rates for a fraction of the epochs on the training split, score
    each on the validation split; returns the config to train (at the best lr, the search done) and the record.

    A best rate at the edge of those tried is followed by up to SEARCH_EXTEND more half-decade steps that way, so a
    centre guessed wrong for a model is corrected. `prepare(config)` gives a fresh (module to train, objective) as
    the real run starts it (seeded, fine-tuned from its source run, a frozen backbone's head). A stop (the Stop
    button, Ctrl-C) ends the search and is passed on to the real run, which then stops at its first batch. The short
    runs train in one process (run_experiment refuses a search under DDP).
    """
    queue = list(config.lr_search)
    key, higher = score_key(config.task)
    epochs = search_epochs(config.epochs)
    tried: list[dict[str, Any]] = []
    complete = True
    while queue:
        total = (len(tried) + len(queue)) * epochs
        found = _try(config, queue.pop(0), epochs, prepare, stop, SearchProgress(callbacks, len(tried) * epochs, total))
        if found is None:  # stopped
            complete = False
            break
        if found["scores"] and key not in found["scores"]:  # no such number on validation: its loss decides
            key, higher = "val_loss", False
        score = found.pop("scores").get(key)
        tried.append({**found, "score": float(score) if score is not None and math.isfinite(score) else None})
        if not queue and len(tried) < len(config.lr_search) + SEARCH_EXTEND:
            queue = [lr for lr in [_beyond(tried, higher)] if lr is not None]
    chosen = best_lr(tried, higher)
    record = {
        "metric": key,
        "epochs": epochs,
        "tried": tried,
        "asked": config.lr,
        "chosen": chosen if chosen is not None else config.lr,
        "complete": complete,
    }
    return replace(config, lr=record["chosen"], lr_search=[]), record


def _try(config, lr: float, epochs: int, prepare, stop: StopFlag, progress: Callback) -> dict[str, Any] | None:
    """One short run at `lr`: its validation scores as the weights ended (None: it was stopped)."""
    from core.run.config import train_config

    short = replace(config, lr=lr, epochs=epochs, lr_search=[])
    trained, objective = prepare(short)
    trainer = Trainer(trained, objective, train_config(short), [progress, stop])
    try:
        trainer.fit()
    except Diverged:
        return {"lr": lr, "diverged": True, "scores": {}}
    if trainer.status == "stopped":  # Ctrl-C is caught by the trainer: the real run must stop as well
        stop.request()
        return None
    scores = ended_scores(trainer)
    return {"lr": lr, "val_loss": scores.get("val_loss"), "scores": scores}


def _beyond(tried: Sequence[dict[str, Any]], higher_is_better: bool) -> float | None:
    """The next half-decade step past the best rate when it is the highest or lowest tried; else None."""
    best, lrs = best_lr(tried, higher_is_better), sorted(t["lr"] for t in tried)
    low, high = RUN_OPTIONS["lr"].low, RUN_OPTIONS["lr"].high
    if best is None or len(lrs) < 2 or best not in (lrs[0], lrs[-1]):
        return None
    step = ladder(best * 10**0.5) if best == lrs[-1] else ladder(best / 10**0.5)
    return step if low <= step <= high and step not in lrs else None


def search_note(record: dict[str, Any]) -> str:
    """'lr 0.1, the best of 5 tried on the validation split for 6 epochs each (val accuracy): 0.01 → 0.612, …'."""
    tried = ", ".join(
        f"{t['lr']:g} → " + ("diverged" if t.get("diverged") else "–" if t["score"] is None else f"{t['score']:.3f}")
        for t in sorted(record["tried"], key=lambda t: t["lr"])
    )
    cut = "" if record.get("complete", True) else " (stopped before it tried them all)"
    what = record["metric"].removeprefix("val_").replace("_", " ")
    return (
        f"lr {record['chosen']:g}, the best of {len(record['tried'])} tried on the validation split for "
        f"{record['epochs']} epoch{'s' if record['epochs'] != 1 else ''} each{cut} (validation {what}): {tried}"
    )

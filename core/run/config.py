"""One run config: every setting's default and range (RunConfig), and `make_config`, the one place defaults merge.

Defaults merge in one order: the run config's own defaults, then the model's spec (its training settings and
augmentation), then the task (its first dataset), then what the user gave. A setting the user did not give
(None) keeps the spec's value, so `python -m core train image --model cnn_bn` trains exactly what the page's
Train button trains with its defaults.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from core.run.settings import (  # noqa: F401  (the settings table, read through this module too)
    BATCH_RULE,
    FIELDS,
    MIN_FITTED_BATCH,
    MIN_FITTED_EPOCHS,
    MIN_STEPS_PER_EPOCH,
    OFF_AT_ZERO,
    PANEL_SETTINGS,
    RUN_OPTIONS,
    TRAIN_KEYS,
    RunConfig,
    fit_rule,
)
from core.run.training import TrainConfig


def train_config(config: RunConfig) -> TrainConfig:
    """The trainer's part of a run config."""
    return TrainConfig(**{k: getattr(config, k) for k in TRAIN_KEYS})


def make_config(task: str, model: str | None = None, **given: Any) -> RunConfig:
    """A run's full config: defaults (config -> model spec -> task) under what was given.

    Every value is checked against its range; a bad one raises ValueError naming the setting.
    """
    from core.models import get_spec
    from core.tasks import get_task

    unknown = sorted(set(given) - set(FIELDS) - {"task", "model"})
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    task_spec = get_task(task).spec
    spec = get_spec(task, model or task_spec.default_model)
    config = {**spec.defaults, **spec.split_defaults, "augment": {} if spec.closed_form else dict(spec.augment)}
    for key, value in given.items():  # None: not given
        if key == "augment" and value is not None:
            config["augment"] = {**config["augment"], **value}
        elif value is not None:
            config[key] = value
    if not config.get("dataset") and not config.get("data"):
        config["dataset"] = task_spec.dataset_names[0]
    return check_config(RunConfig(**{**config, "task": task, "model": spec.name}))


def task_settings() -> set[str]:
    """Settings one task reads (its spec's `settings`): another task's run may not change them."""
    from core.tasks import task_specs

    return {name for spec in task_specs() for name in spec.settings}


def check_config(config: RunConfig) -> RunConfig:
    """Every setting against its range, the model options against the model's spec, the augmentation against
    the task's; returns the config with values cast to their kinds."""
    from core.models import get_spec
    from core.tasks import get_task

    task_spec = get_task(config.task).spec
    spec = get_spec(config.task, config.model)
    out: dict[str, Any] = {}
    for name, option in RUN_OPTIONS.items():
        out[name] = option.check(getattr(config, name), "")
        if name in OFF_AT_ZERO and out[name] == 0:
            out[name] = None  # 0 = off, as the page's widget and the CLI write it
        if name in task_settings() and name not in task_spec.settings and out[name] != option.default:
            raise ValueError(f"{name} is a setting of another task, not of {config.task}")
    out["lr_search"] = [RUN_OPTIONS["lr"].check(float(lr), "lr_search") for lr in config.lr_search]
    out["model_options"] = spec.check_options(config.model_options)
    known = {o.name: o for o in task_spec.augment_options}
    unknown = sorted(set(config.augment) - set(known))
    if unknown:
        raise ValueError(f"unknown augmentation(s): {', '.join(unknown)} (it takes: {', '.join(known) or 'none'})")
    out["augment"] = {k: known[k].check(v, "augment") for k, v in config.augment.items()}
    check_pretrained(config, spec)
    if config.weights_path and not spec.accepts_weights:
        takers = ", ".join(n for n in _models_taking_weights(config.task)) or "no model of this task"
        raise ValueError(f"{spec.name} cannot start from a weights file (models that can: {takers})")
    if out["freeze_backbone"] and not spec.can_freeze:
        takers = ", ".join(_models_taking_weights(config.task)) or "no model of this task"
        raise ValueError(f"{spec.name} has no backbone to freeze (models that have one: {takers})")
    return replace(config, **out)


def check_pretrained(config: RunConfig, spec) -> None:
    """`pretrained` names the weights the model's spec publishes, and not beside a weights file."""
    source = config.pretrained
    if not source:
        return
    if not spec.publishes(source):
        from core.models import get_spec, list_models

        takers = [m for m in list_models(config.task) if get_spec(config.task, m).publishes(source)]
        raise ValueError(f"{spec.name} has no {source!r} weights (models that have: {', '.join(takers) or 'none'})")
    if config.weights_path:
        raise ValueError("start from either a weights file or the pretrained weights, not both")


def _models_taking_weights(task: str) -> list[str]:
    from core.models import get_spec, list_models

    return [m for m in list_models(task) if get_spec(task, m).accepts_weights]


def fit_to_data(config: RunConfig, n_train: int) -> tuple[RunConfig, str | None]:
    """BATCH_RULE: the config to train with on `n_train` examples, and a note saying what changed (None: nothing).

    Small data: the batch size shrinks so an epoch has at least MIN_STEPS_PER_EPOCH steps, and for a model whose
    spec sets a step floor (`min_steps`) the epochs grow so the run takes at least that many steps. Large data, for a
    model whose spec sets an `example_budget` (the examples its default epochs see on the data they were chosen
    on): the epochs shrink to about budget / n_train, at least MIN_FITTED_EPOCHS.
    """
    if not config.fit_batch or n_train <= 0:
        return config, None
    fitted, notes = {"batch_size": config.batch_size}, []
    cap = max(MIN_FITTED_BATCH, 1 << max(0, (n_train // MIN_STEPS_PER_EPOCH).bit_length() - 1))
    if config.batch_size > cap:
        fitted["batch_size"] = cap
        notes.append(
            f"batch size {config.batch_size} → {cap} for {n_train:,} training examples "
            f"(at least {MIN_STEPS_PER_EPOCH} steps per epoch)"
        )
    steps_per_epoch = math.ceil(n_train / fitted["batch_size"])
    floor = None if config.max_batches else config.min_steps  # a smoke run stays one batch long
    if floor and config.epochs * steps_per_epoch < floor:
        fitted["epochs"] = math.ceil(floor / steps_per_epoch)
        notes.append(
            f"epochs {config.epochs} → {fitted['epochs']} for {n_train:,} training examples "
            f"(at least {floor:,} optimizer steps, the model's step floor)"
        )
    budget = config.example_budget
    if budget and config.epochs * n_train > budget:
        epochs = max(MIN_FITTED_EPOCHS, math.ceil(budget / n_train))
        if epochs < config.epochs:
            fitted["epochs"] = epochs
            notes.append(
                f"epochs {config.epochs} → {epochs} for {n_train:,} training examples "
                f"(about {epochs * n_train:,} examples in all; the model's budget is {budget:,})"
            )
    return (replace(config, **fitted), "; ".join(notes)) if notes else (config, None)

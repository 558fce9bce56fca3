"""What-if races: a base configuration plus one or two varied axes -> labelled variants, each over seeds."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.models import get_spec, list_models
from core.run.config import check_config, make_config
from core.run.lr_search import search_grid
from core.run.settings import RunConfig
from core.run.training import OPTIMIZER_LABELS as OPTIMIZER_NAMES
from core.tasks import get_task

LR_CHOICES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3]
MAX_RUNS = 24  # one race may queue at most this many runs
MAX_SEEDS = 5


def model_defaults(task: str, model: str) -> dict[str, Any]:
    """A model's recommended training settings (its spec's), {} for a model fitted in closed form."""
    return dict(get_spec(task, model).defaults)


def default_model(task: str) -> str:
    """The lab's base model: the task's lab model (one with architecture switches), else its default."""
    spec = get_task(task).spec
    return spec.lab_model or spec.default_model


def _family(task: str) -> dict[str, dict[str, bool]]:
    """The models of a task with architecture traits (batch_norm, separable, attention): model -> traits."""
    return {m: dict(get_spec(task, m).traits) for m in list_models(task) if get_spec(task, m).traits}


def _settable(task: str, model: str) -> set[str]:
    """Traits a model can switch through its own options (ConvNet's batch_norm) instead of another model."""
    spec = get_spec(task, model)
    return {o.name for o in spec.options if o.name in spec.traits}


def _traits(config: RunConfig) -> dict[str, bool]:
    traits = _family(config.task).get(config.model)
    if traits is None:
        raise ValueError(f"{config.model} has no architecture switches")
    options = config.model_options
    return {**traits, **{k: bool(options[k]) for k in _settable(config.task, config.model) if k in options}}


def switch_trait(config: RunConfig, trait: str, value: bool) -> RunConfig:
    """The same config with one architecture trait switched, as the family member that needs fewest options."""
    task = config.task
    want = {**_traits(config), trait: bool(value)}
    candidates = []
    for model, traits in _family(task).items():
        settable = _settable(task, model)
        if set(traits) != set(want) or any(traits[k] != want[k] for k in traits if k not in settable):
            continue
        overrides = {k: want[k] for k in settable if traits[k] != want[k]}
        candidates.append((len(overrides), model, overrides))
    if not candidates:
        shown = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in want.items())
        raise ValueError(f"no {task} model has {shown}")
    _, model, overrides = min(candidates, key=lambda c: c[0])
    every_trait = {o for m in _family(task) for o in _settable(task, m)}
    options = {k: v for k, v in config.model_options.items() if k not in every_trait}
    return replace(config, model=model, model_options={**options, **overrides})


def _setter(key: str) -> Callable[[RunConfig, Any], RunConfig]:
    return lambda config, value: replace(config, **{key: value})


def _set_model(config: RunConfig, value: str) -> RunConfig:
    """Another model; training settings left at the base model's recommendation follow the new model's.

    A setting the user changed stays as set. A closed-form base (no training settings of its own) thus
    races a gradient-trained model with that model's recommended epochs, learning rate and batch size.
    """
    task = config.task
    old, new = make_config(task, config.model), make_config(task, value)
    # Every setting either model's spec sets: one the new model leaves to the run config goes back to that default
    # (a race from crnn_attention to cnn does not keep crnn_attention's example budget).
    keys = {*model_defaults(task, config.model), *model_defaults(task, value), "augment"}
    follow = {k: getattr(new, k) for k in keys if getattr(config, k) == getattr(old, k)}
    # a model that publishes no such weights starts from scratch; one without a backbone trains whole
    spec = get_spec(task, value)
    pretrained = config.pretrained if spec.publishes(config.pretrained) else None
    frozen = config.freeze_backbone and spec.can_freeze
    return replace(config, **follow, model=value, model_options={}, pretrained=pretrained, freeze_backbone=frozen)


def _switch(trait: str) -> Callable[[RunConfig, Any], RunConfig]:
    return lambda config, value: switch_trait(config, trait, value)


@dataclass(frozen=True)
class Axis:
    """One thing a race can vary: how to put a value into a config, and how to name it."""

    name: str
    title: str
    apply: Callable[[RunConfig, Any], RunConfig]
    describe: Callable[[Any], str]
    gradient_only: bool = False  # meaningless for models fitted in closed form
    moves_lr: bool = False  # its values want different learning rates: a race searches each variant's own


AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis("optimizer", "Optimizer", _setter("optimizer"), lambda v: OPTIMIZER_NAMES.get(v, v), True, True),
        Axis("lr", "Learning rate", _setter("lr"), lambda v: f"lr {v:g}", True),
        Axis("batch_size", "Batch size", _setter("batch_size"), lambda v: f"batch {v}", True, True),
        Axis(
            "batch_norm",
            "Batch norm",
            _switch("batch_norm"),
            lambda v: "batch norm" if v else "no batch norm",
            moves_lr=True,
        ),
        Axis(
            "separable",
            "Convolutions",
            _switch("separable"),
            lambda v: "separable convs" if v else "standard convs",
            moves_lr=True,
        ),
        Axis(
            "attention",
            "Attention",
            _switch("attention"),
            lambda v: "attention" if v else "no attention",
            moves_lr=True,
        ),
        Axis(
            "init_from",
            "Start from",
            _setter("init_from"),
            lambda v: f"fine-tuned from run {v[-4:]}" if v else "from scratch",  # the last 4 of the run id's random hex
            True,
        ),
        Axis("model", "Model", _set_model, str, moves_lr=True),
    )
}
SWITCHES = ("batch_norm", "separable", "attention")


def available_axes(task: str, model: str, gradient: bool = True) -> list[str]:
    """The axes that make sense for a base model of a task (architecture switches only within their family)."""
    traits = _family(task).get(model, {})
    models = list_models(task)
    out = []
    for name, axis in AXES.items():
        if axis.gradient_only and not gradient:
            continue
        if name in SWITCHES:
            # a switch is offered when the base is in the family and the model on the other side exists
            if name not in traits:
                continue
            try:
                switch_trait(RunConfig(task=task, model=model), name, not traits[name])
            except ValueError:
                continue
        if name == "model" and len(models) < 2:
            continue
        out.append(name)
    return out


@dataclass
class Variant:
    """One point of the race: a label and one config per seed."""

    label: str
    settings: dict[str, Any]  # axis name -> value
    configs: list[RunConfig] = field(default_factory=list)


@dataclass
class Plan:
    variants: list[Variant]
    skipped: list[str]  # combinations that do not exist, and why

    @property
    def runs(self) -> int:
        return sum(len(v.configs) for v in self.variants)

    @property
    def search_runs(self) -> int:
        """The short runs of the learning-rate searches, before the runs that are compared."""
        return sum(len(c.lr_search) for v in self.variants for c in v.configs)

    def interleaved(self) -> list[tuple[Variant, RunConfig]]:
        """Every (variant, config), seed by seed, so the first runs to start are one of each variant."""
        seeds = max((len(v.configs) for v in self.variants), default=0)
        return [(v, v.configs[s]) for s in range(seeds) for v in self.variants if s < len(v.configs)]


def searches_lr(axes: Mapping[str, Sequence[Any]]) -> bool:
    """Whether a race over these axes is one whose variants each want their own learning rate (and none is set by
    the race itself)."""
    return "lr" not in axes and any(AXES[a].moves_lr for a in axes if a in AXES)


def expand(base: RunConfig, axes: Mapping[str, Sequence[Any]], seeds: int = 1, lr_search: bool = False) -> Plan:
    """Base config x the product of the axes' values x seeds (base seed, +1, ...) -> labelled variants.

    A combination that has no model (say, attention with separable convolutions for speech) is skipped
    with the reason in `skipped`. With `lr_search`, when `searches_lr(axes)`, every run of a gradient-trained
    variant first searches its learning rate on the validation split (core.run.lr_search), around a centre suited to
    its optimizer, and trains at the best.
    """
    unknown = set(axes) - set(AXES)
    if unknown:
        raise ValueError(f"unknown axis {', '.join(sorted(unknown))}; choose from {', '.join(AXES)}")
    empty = [AXES[a].title for a, values in axes.items() if not values]
    if empty:
        raise ValueError(f"pick at least one value for: {', '.join(empty)}")
    if not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be between 1 and {MAX_SEEDS}")
    names = list(axes)
    variants, skipped = [], []
    for combo in itertools.product(*(axes[n] for n in names)):
        settings = dict(zip(names, combo))
        label = " · ".join(AXES[n].describe(v) for n, v in settings.items()) or "base"
        config, lr_was_for = base, None
        try:
            # the model first: switching it must not undo another axis's value; the optimizer last, so the lr it
            # replaces is known to have been set for the optimizer before it
            for name, value in sorted(settings.items(), key=lambda nv: (nv[0] != "model", nv[0] == "optimizer")):
                if name == "optimizer":
                    lr_was_for = config.optimizer
                config = AXES[name].apply(config, value)
            config = check_config(config)
        except ValueError as exc:
            skipped.append(f"{label}: {exc}")
            continue
        if get_spec(config.task, config.model).closed_form:
            moot = sorted(n for n in settings if AXES[n].gradient_only)
            same = {k: v for k, v in settings.items() if k not in moot}
            twin = next((v for v in variants if v.configs[0].model == config.model and _same(v, same)), None)
            if moot and twin is not None:
                what = ", ".join(AXES[n].title.lower() for n in moot)
                skipped.append(
                    f"{label}: {config.model} is fitted in closed form, so {what} changes nothing "
                    f"(the same run as {twin.label})"
                )
                continue
            if moot:  # the first of its kind stands for all: name it by what matters
                label = (" · ".join(AXES[n].describe(v) for n, v in same.items()) or config.model) + " (closed form)"
        if lr_search and searches_lr(axes) and not get_spec(config.task, config.model).closed_form:
            grid = search_grid(config.lr, config.optimizer, lr_was_for or config.optimizer)
            config = replace(config, lr_search=grid)
        variants.append(Variant(label, settings, [replace(config, seed=base.seed + i) for i in range(seeds)]))
    return Plan(variants, skipped)


def _same(variant: Variant, settings: Mapping[str, Any]) -> bool:
    """Whether a variant has these values on these axes (the others being moot)."""
    return all(variant.settings.get(k) == v for k, v in settings.items())


def submit_race(plan: Plan, task: str, jobs, owner: str, limit: int, client: str = "") -> dict[str, Any]:
    """Queue every run of a plan as jobs, seed by seed; returns the race record a page keeps (JSON-able).
    Raises ValueError before queueing any when the queue has no room for them all (JobManager.check_room)."""
    jobs.check_room(owner, client, limit, plan.runs)
    race: dict[str, Any] = {"task": task, "variants": {v.label: [] for v in plan.variants}}
    for variant, config in plan.interleaved():
        label = f"what-if {variant.label} · seed {config.seed}"
        job = jobs.submit(config, label=label, owner=owner, limit=limit, client=client)
        race["variants"][variant.label].append({"job": job.id, "run": job.run_id, "seed": config.seed})
    return race


def snapshots(race: dict[str, Any], jobs, store) -> dict[str, list[dict[str, Any]]]:
    """Per variant, per seed: status, history and progress, from the live job or else from the run store."""
    out = {}
    for label, entries in race["variants"].items():
        snaps = []
        for entry in entries:
            job = jobs.get(entry["job"])
            if job is not None and job.run_id == entry["run"]:
                snap = job.snapshot()
            else:  # the job is from before a restart: the run store has the rest
                record = store.get(entry["run"])
                snap = {
                    "status": record["status"] if record else "deleted",
                    "history": store.history(entry["run"]) if record else [],
                    "epoch": 0,
                    "epochs": record["config"].epochs if record else None,
                    "error": (record or {}).get("error"),
                }
            snaps.append({**snap, "run_id": entry["run"], "seed": entry["seed"]})
        out[label] = snaps
    return out


def at_best_lr(label: str, chosen: Sequence[float]) -> str:
    """'SGD at its best lr 0.1': a variant's label with the learning rate its runs' searches chose (each seed
    searches for itself; when they chose differently, every choice is named)."""
    lrs = sorted(set(chosen))
    if not lrs:
        return label
    return f"{label} at its best lr {' or '.join(f'{lr:g}' for lr in lrs)}" + (" (by seed)" if len(lrs) > 1 else "")

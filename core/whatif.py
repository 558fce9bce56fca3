"""What-if races: a base configuration plus one or two varied axes -> labelled variants, each over seeds."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.models import list_models
from core.training import OPTIMIZER_LABELS as OPTIMIZER_NAMES
from core.training import TrainConfig

LR_CHOICES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3]
MAX_RUNS = 24  # one race may queue at most this many runs
MAX_SEEDS = 5
TRAIN_DEFAULTS = TrainConfig().to_dict()  # what make_config fills in when a setting is not given

# Architecture switches: the models of a family and the traits that tell them apart. A switch picks the
# family member with the asked-for traits; traits in OPTION_TRAITS can also be set through model_options.
ARCHITECTURES: dict[str, dict[str, dict[str, bool]]] = {
    "image": {
        "cnn": {"batch_norm": False, "separable": False},
        "cnn_bn": {"batch_norm": True, "separable": False},
        "dscnn": {"batch_norm": True, "separable": True},
    },
    "speech": {  # the speech models have no attention option: attention on/off is crnn_attention vs cnn
        "cnn": {"separable": False, "attention": False},
        "dscnn": {"separable": True, "attention": False},
        "crnn_attention": {"separable": False, "attention": True},
    },
}
OPTION_TRAITS: dict[str, set[str]] = {"image": {"batch_norm"}}  # ConvNet(batch_norm=...) of core/models/image.py
# Preferred starting model per task (one that has the architecture switches), else the first gradient model.
DEFAULT_MODELS = {"image": "cnn_bn", "speech": "cnn"}


def model_defaults(task: str, model: str) -> dict[str, Any]:
    """A task's recommended training settings for a model (its module's DEFAULTS), {} if it has none."""
    module = importlib.import_module(f"core.tasks.{task}")
    return dict(getattr(module, "DEFAULTS", {}).get(model, {}))


def default_model(task: str) -> str:
    models = list_models(task)
    if DEFAULT_MODELS.get(task) in models:
        return DEFAULT_MODELS[task]
    trained = [m for m in models if model_defaults(task, m)]
    return (trained or models)[0]


def trains_by_gradient(task: str, model: str, meta: dict[str, Any]) -> bool:
    """False for models fitted in closed form (scikit-learn, counting): optimizer, lr and batch size do nothing."""
    from core.experiment import make_config
    from core.tasks import get_task

    built = get_task(task).build_model(make_config(task, model, dataset=meta.get("dataset")), meta)
    return not getattr(built, "sklearn_fitted", False)


def _traits(config: Mapping[str, Any]) -> dict[str, bool]:
    family = ARCHITECTURES.get(config["task"], {})
    if config["model"] not in family:
        raise ValueError(f"{config['model']} has no architecture switches")
    options = config.get("model_options") or {}
    settable = OPTION_TRAITS.get(config["task"], set())
    return {**family[config["model"]], **{k: bool(options[k]) for k in settable if k in options}}


def switch_trait(config: dict[str, Any], trait: str, value: bool) -> dict[str, Any]:
    """The same config with one architecture trait switched, as the family member that needs fewest options."""
    task = config["task"]
    want = {**_traits(config), trait: bool(value)}
    settable = OPTION_TRAITS.get(task, set())
    candidates = []
    for model, traits in ARCHITECTURES[task].items():
        if model not in list_models(task) or any(traits[k] != want[k] for k in traits if k not in settable):
            continue
        overrides = {k: want[k] for k in settable if k in traits and traits[k] != want[k]}
        candidates.append((len(overrides), model, overrides))
    if not candidates:
        shown = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in want.items())
        raise ValueError(f"no {task} model has {shown}")
    _, model, overrides = min(candidates, key=lambda c: c[0])
    options = {k: v for k, v in (config.get("model_options") or {}).items() if k not in settable}
    return {**config, "model": model, "model_options": {**options, **overrides}}


def _setter(key: str) -> Callable[[dict, Any], dict]:
    return lambda config, value: {**config, key: value}


def _set_model(config: dict[str, Any], value: str) -> dict[str, Any]:
    """Another model; training settings left at the base model's recommendation follow the new model's.

    A setting the user changed stays as set. A closed-form base (no training settings of its own) thus
    races a gradient-trained model with that model's recommended epochs, learning rate and batch size.
    """
    keep = {k: v for k, v in (config.get("model_options") or {}).items() if k == "freeze_backbone"}
    base = {**TRAIN_DEFAULTS, **model_defaults(config["task"], config["model"])}
    follow = {k: v for k, v in model_defaults(config["task"], value).items() if config.get(k) == base.get(k)}
    return {**config, **follow, "model": value, "model_options": keep}


def _switch(trait: str) -> Callable[[dict, Any], dict]:
    return lambda config, value: switch_trait(config, trait, value)


@dataclass(frozen=True)
class Axis:
    """One thing a race can vary: how to put a value into a config, and how to name it."""

    name: str
    title: str
    apply: Callable[[dict[str, Any], Any], dict[str, Any]]
    describe: Callable[[Any], str]
    gradient_only: bool = False  # meaningless for models fitted in closed form


AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis("optimizer", "Optimizer", _setter("optimizer"), lambda v: OPTIMIZER_NAMES.get(v, v), True),
        Axis("lr", "Learning rate", _setter("lr"), lambda v: f"lr {v:g}", True),
        Axis("batch_size", "Batch size", _setter("batch_size"), lambda v: f"batch {v}", True),
        Axis("batch_norm", "Batch norm", _switch("batch_norm"), lambda v: "batch norm" if v else "no batch norm"),
        Axis(
            "separable",
            "Convolutions",
            _switch("separable"),
            lambda v: "separable convs" if v else "standard convs",
        ),
        Axis("attention", "Attention", _switch("attention"), lambda v: "attention" if v else "no attention"),
        Axis(
            "init_from",
            "Start from",
            _setter("init_from"),
            lambda v: f"fine-tuned from run {v[-4:]}" if v else "from scratch",  # run ids end in 4 random hex
            True,
        ),
        Axis("model", "Model", _set_model, str),
    )
}
SWITCHES = ("batch_norm", "separable", "attention")


def available_axes(task: str, model: str, gradient: bool = True) -> list[str]:
    """The axes that make sense for a base model of a task (architecture switches only within their family)."""
    family = ARCHITECTURES.get(task, {})
    traits = family.get(model, {})
    models = list_models(task)
    out = []
    for name, axis in AXES.items():
        if axis.gradient_only and not gradient:
            continue
        if name in SWITCHES:
            # a switch is offered when the base is in the family and the model on the other side exists
            if name not in traits:
                continue
            config = {"task": task, "model": model, "model_options": {}}
            try:
                switch_trait(config, name, not traits[name])
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
    configs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    variants: list[Variant]
    skipped: list[str]  # combinations that do not exist, and why

    @property
    def runs(self) -> int:
        return sum(len(v.configs) for v in self.variants)

    def interleaved(self) -> list[tuple[Variant, dict[str, Any]]]:
        """Every (variant, config), seed by seed, so the first runs to start are one of each variant."""
        seeds = max((len(v.configs) for v in self.variants), default=0)
        return [(v, v.configs[s]) for s in range(seeds) for v in self.variants if s < len(v.configs)]


def expand(base: dict[str, Any], axes: Mapping[str, Sequence[Any]], seeds: int = 1) -> Plan:
    """Base config x the product of the axes' values x seeds (base seed, +1, ...) -> labelled variants.

    A combination that has no model (say, attention with separable convolutions for speech) is skipped
    with the reason in `skipped`.
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
        config = dict(base)
        try:
            # the model first: switching it must not undo another axis's value
            for name, value in sorted(settings.items(), key=lambda nv: nv[0] != "model"):
                config = AXES[name].apply(config, value)
        except ValueError as exc:
            skipped.append(f"{label}: {exc}")
            continue
        if not model_defaults(config["task"], config["model"]):  # fitted in closed form
            moot = sorted(n for n in settings if AXES[n].gradient_only)
            same = {k: v for k, v in settings.items() if k not in moot}
            twin = next((v for v in variants if v.configs[0]["model"] == config["model"] and _same(v, same)), None)
            if moot and twin is not None:
                what = ", ".join(AXES[n].title.lower() for n in moot)
                skipped.append(
                    f"{label}: {config['model']} is fitted in closed form, so {what} changes nothing "
                    f"(the same run as {twin.label})"
                )
                continue
            if moot:  # the first of its kind stands for all: name it by what matters
                label = " · ".join(AXES[n].describe(v) for n, v in same.items()) + " (closed form)"
        first = int(base.get("seed", 0))
        variants.append(Variant(label, settings, [{**config, "seed": first + i} for i in range(seeds)]))
    return Plan(variants, skipped)


def _same(variant: Variant, settings: Mapping[str, Any]) -> bool:
    """Whether a variant has these values on these axes (the others being moot)."""
    return all(variant.settings.get(k) == v for k, v in settings.items())

"""Model registry: every model registered once, by name, with its spec (the one home of a model's facts)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

from core.run.options import Option
from core.run.settings import RUN_OPTIONS

if TYPE_CHECKING:
    from core.models.pretrained import Pretrained

# The training settings a spec may recommend (each RunConfig setting declared per_model); anything else belongs in
# `options` or `augment`.
TRAINING_KEYS = tuple(name for name, option in RUN_OPTIONS.items() if option.per_model)


@dataclass(frozen=True)
class ModelSpec:
    """What a model is: its builder and every fact the CLI, pages, lab and reports ask about it."""

    name: str
    task: str
    description: str
    builder: Callable[..., nn.Module]
    defaults: Mapping[str, Any] = field(default_factory=dict)  # training settings (TRAINING_KEYS)
    # the split it is meant to be measured on, a task setting (sequential recommenders: protocol="time")
    split_defaults: Mapping[str, Any] = field(default_factory=dict)
    augment: Mapping[str, Any] = field(default_factory=dict)  # augmentation it starts from
    options: tuple[Option, ...] = ()  # settable model options, with labels and ranges
    closed_form: bool = False  # fitted without gradient descent: optimizer, lr, epochs, batch size do nothing
    accepts_weights: bool = False  # can start from a local pretrained weights file
    # weights a library publishes (torchvision, torchaudio), fetched into the torch hub cache: `--pretrained SOURCE`
    pretrained: Pretrained | None = None
    good_for: str = ""
    traits: Mapping[str, bool] = field(default_factory=dict)  # architecture switches (what-if): batch_norm, ...
    defaults_from: str = ""  # where the defaults came from (which script, which split)
    objective: str = ""  # how its task trains it, where a task has several ways (recsys: rating, pairwise, ...)
    label: str = ""  # its name in prose ("PCA+SVM"); the registered name where empty
    uses_validation: bool = False  # its closed-form fit picks hyper-parameters on the validation split (SVM's C)
    rating_model: bool = False  # recsys: predicts ratings on the data's scale (RMSE and MAE apply)
    fold_in: str = ""  # recsys: how it takes in someone not in its training data, completing "so MODEL ..."

    @property
    def title(self) -> str:
        return self.label or self.name

    def publishes(self, source: str | None) -> bool:
        """Whether its spec names pretrained weights from `source` ("imagenet")."""
        return self.pretrained is not None and self.pretrained.source == source

    def input_size(self, source: str | None) -> int | None:
        """The image side it takes when started from `source`'s weights (their transforms' crop); None: the task's
        own size (a model from scratch, from a weights file, or without published weights)."""
        return self.pretrained.input_size() if self.publishes(source) else None

    @property
    def can_freeze(self) -> bool:
        """It has a backbone to freeze (the run setting `freeze_backbone`): the models that take weights, whose last
        layer is their `head`."""
        return self.accepts_weights

    def option_defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The model options cast and range-checked; unknown names are an error naming the known ones."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            shown = ", ".join(known) or "none"
            raise ValueError(f"unknown option(s) for {self.name}: {', '.join(unknown)} (it takes: {shown})")
        return {k: known[k].check(v, self.name) for k, v in options.items()}


_SPECS: dict[str, dict[str, ModelSpec]] = {}
# facts every model of a task must state (a task's models module calls require_facts): a new model that leaves
# one out fails when it registers, not later on a page
_REQUIRED: dict[str, tuple[str, ...]] = {}


def require_facts(task: str, *names: str) -> None:
    """Every model registered under `task` from now on must give these ModelSpec facts (non-empty)."""
    _REQUIRED[task] = names


def register_model(task: str, name: str, description: str, **facts: Any) -> Callable:
    """Decorator: register a model builder under `task`/`name` with its spec. A name registers once."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _SPECS.get(task, {}):
            raise ValueError(f"{task} model {name!r} is registered twice")
        missing = [f for f in _REQUIRED.get(task, ()) if not facts.get(f)]
        if missing:
            raise ValueError(f"{task} model {name!r} must state {', '.join(missing)} (see ModelSpec)")
        unknown = set(facts.get("defaults", {})) - set(TRAINING_KEYS)
        if unknown:
            raise ValueError(f"{name}: defaults may only set {', '.join(TRAINING_KEYS)}, not {', '.join(unknown)}")
        _SPECS.setdefault(task, {})[name] = ModelSpec(name, task, description, builder, **facts)
        return builder

    return wrap


def _load_task_models(task: str) -> None:
    # Import on demand so `core.models` stays light and each task registers its own models.
    try:
        importlib.import_module(f"core.models.{task}")
    except ModuleNotFoundError as exc:
        if exc.name != f"core.models.{task}":
            raise


def list_models(task: str) -> list[str]:
    _load_task_models(task)
    return list(_SPECS.get(task, {}))


def get_spec(task: str, name: str) -> ModelSpec:
    models = list_models(task)
    if name not in models:
        raise ValueError(f"unknown {task} model {name!r}; choose one of {', '.join(models)}")
    return _SPECS[task][name]


def get_model(task: str, name: str, **cfg) -> nn.Module:
    """Build a model: its spec's option defaults under `cfg` (the data's shapes and any chosen options)."""
    spec = get_spec(task, name)
    model = spec.builder(**{**spec.option_defaults(), **cfg})
    model.registry_spec = spec  # what it is travels with it: spec_of(model)
    return model


def spec_of(model: nn.Module) -> ModelSpec:
    """The spec of a model built by get_model (through a DDP or compile wrapper too)."""
    spec = getattr(model, "registry_spec", None) or getattr(getattr(model, "module", None), "registry_spec", None)
    if spec is None:
        raise ValueError(f"{type(model).__name__} was not built by core.models.get_model: its spec is unknown")
    return spec


def freeze_backbone(model: nn.Module) -> None:
    """Train only the classifier: every model names its last layer `head`."""
    for pname, param in model.named_parameters():
        param.requires_grad = pname.startswith("head.") or ".head." in pname


def transfer_weights(model: nn.Module, state_dict: dict) -> tuple[int, int]:
    """Copy every tensor whose name and shape match (a new head stays fresh). Returns (copied, skipped)."""
    own = model.state_dict()
    matched = {k: v for k, v in state_dict.items() if k in own and hasattr(v, "shape") and own[k].shape == v.shape}
    if not matched:
        raise ValueError("the weights share no layer (by name and shape) with this model")
    model.load_state_dict(matched, strict=False)
    return len(matched), len(own) - len(matched)

"""Model registry: every task's nn.Modules, registered by name with `list_models` / `get_model`."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_REGISTRY: dict[str, dict[str, Callable[..., nn.Module]]] = {}
_DESCRIPTIONS: dict[str, dict[str, str]] = {}


def register(task: str, name: str, description: str = "") -> Callable:
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY.setdefault(task, {})[name] = factory
        _DESCRIPTIONS.setdefault(task, {})[name] = description or (factory.__doc__ or "").strip().split("\n")[0]
        return factory

    return wrap


def _load_task_models(task: str) -> None:
    # Import on demand so `core.models` stays light and each task registers its own models.
    import importlib

    try:
        importlib.import_module(f"core.models.{task}")
    except ModuleNotFoundError as exc:
        if exc.name != f"core.models.{task}":
            raise


def list_models(task: str) -> list[str]:
    _load_task_models(task)
    return list(_REGISTRY.get(task, {}))


def describe_model(task: str, name: str) -> str:
    _load_task_models(task)
    return _DESCRIPTIONS.get(task, {}).get(name, "")


def get_model(task: str, name: str, **cfg) -> nn.Module:
    models = list_models(task)
    if name not in models:
        raise ValueError(f"unknown {task} model {name!r}; choose one of {', '.join(models)}")
    return _REGISTRY[task][name](**cfg)


def freeze_backbone(model: nn.Module) -> None:
    """Train only the classifier: every model names its last layer `head`."""
    for pname, param in model.named_parameters():
        param.requires_grad = pname.startswith("head.") or ".head." in pname


def transfer_weights(model: nn.Module, state_dict: dict) -> tuple[int, int]:
    """Copy every tensor whose name and shape match (a new head stays fresh). Returns (copied, skipped)."""
    own = model.state_dict()
    matched = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise ValueError("the weights share no layer (by name and shape) with this model")
    model.load_state_dict(matched, strict=False)
    return len(matched), len(own) - len(matched)

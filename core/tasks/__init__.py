"""Tasks (image, speech, recsys): each knows its datasets, models, objective and evaluation."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import torch
from torch import nn

from core.runs import RunStore
from core.training import Objective

TASKS = ("image", "speech", "recsys")


def split_seed(config: dict[str, Any]) -> int:
    """The seed of a config's train/val/test split; runs stored before `split_seed` existed split by `seed`."""
    return int(config.get("split_seed", config.get("seed", 0)))


class Task(Protocol):
    """What the experiment runner needs from a task module."""

    name: str

    def list_datasets(self) -> list[str]: ...

    def load_data(self, config: dict[str, Any]) -> Any:
        """Load and split the data named by config['dataset'] or config['data']; has `.meta`."""

    def build_model(self, config: dict[str, Any], meta: dict[str, Any]) -> nn.Module: ...

    def make_objective(self, config: dict[str, Any], data: Any) -> Objective: ...

    def fit_baseline(self, model: nn.Module, data: Any, config: dict[str, Any]) -> None:
        """Fit a model that is not trained by gradient descent (scikit-learn, closed form)."""

    def evaluate(self, model: nn.Module, data: Any) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
        """Test-split (metrics, JSON details, numpy artifacts)."""

    def example_input(self, data: Any) -> torch.Tensor: ...


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    try:
        module = importlib.import_module(f"core.tasks.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"core.tasks.{name}":
            raise ValueError(f"the {name} task is not built yet") from exc
        raise
    return module.TASK


def available_tasks() -> list[str]:
    out = []
    for name in TASKS:
        try:
            get_task(name)
            out.append(name)
        except ValueError:
            pass
    return out


def load_run_model(store: RunStore, run_id: str) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a finished run's model from its checkpoint; returns (model in eval mode, checkpoint)."""
    ckpt = store.load_checkpoint(run_id)
    config = ckpt["config"]
    model = get_task(config["task"]).build_model({**config, "init_from": None, "weights_path": None}, ckpt["meta"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt

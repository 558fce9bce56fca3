"""Tasks (image, speech, recsys): each knows its datasets, models, objective and evaluation."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.data import DataError
from core.eval.metric_info import metric
from core.run.options import Option

if TYPE_CHECKING:  # annotations only: listing the tasks must not import PyTorch (a server's first page view)
    import torch
    from torch import nn

    from core.run.settings import RunConfig
    from core.run.store import RunStore
    from core.run.training import Objective


@dataclass(frozen=True)
class DatasetSpec:
    """A bundled dataset: its name, what it is, how it loads, and facts that settings depend on."""

    name: str
    description: str
    # its loader, or the loader's "module:function" path (imported when the set loads, so listing the specs imports
    # no PyTorch); called with the set's name and its task's settings (seed, ...), it returns the task's split data
    loader: Callable[..., Any] | str
    mirror_safe: bool = True  # False: a mirrored example means something else (a mirrored digit is not a digit)
    bright_on_dark: bool = False  # images are bright strokes on a dark ground: a photo of ink on paper is inverted

    def load(self, **settings: Any) -> Any:
        """The set, split as its task's `settings` say (seed, group_by, protocol)."""
        loader = self.loader
        if isinstance(loader, str):
            module, _, name = loader.partition(":")
            loader = getattr(importlib.import_module(module), name)
        return loader(self.name, **settings)


@dataclass(frozen=True)
class TaskSpec:
    """What a task is, for every list of tasks (navigation, home, the lab, runs, reports, the CLI)."""

    name: str
    title: str
    icon: str  # a Material icon, as st.Page and st.markdown write it
    blurb: str
    datasets: tuple[DatasetSpec, ...]
    default_model: str
    primary_metric: str  # the number races and galleries rank runs by
    headline: tuple[str, ...]  # the metrics shown first, in this order (see core.eval.metric_info)
    result_tabs: tuple[str, ...] = ()  # the task page's own tabs beside Overview
    augment_options: tuple[Option, ...] = ()  # how the augmentation a model starts from can be changed
    settings: tuple[str, ...] = ()  # RunConfig fields that only this task reads (group_by, protocol)
    lab_model: str | None = None  # the what-if lab's base model, when not the default (one with switches)
    order: int = 0
    example_noun: str = "test inputs"  # what one model input is, in words ("users" for a recommender)
    metric_labels: Mapping[str, str] = field(default_factory=dict)  # task-specific wording of a metric's label
    # closed-form models fitted beside every run of another model, on its split (core.eval.baseline); of several, the
    # one better on the validation split is the run's baseline
    baselines: tuple[str, ...] = ()
    more_data: str = "more training examples"  # the first thing to try when a model does not beat its baseline

    def dataset(self, name: str | None) -> DatasetSpec | None:
        return next((d for d in self.datasets if d.name == name), None)

    def bundled(self, name: str) -> DatasetSpec:
        """The bundled set `name`; an unknown name is an error naming the sets there are."""
        found = self.dataset(name)
        if found is None:
            raise DataError(f"unknown {self.name} dataset {name!r}; choose one of {', '.join(self.dataset_names)}")
        return found

    @property
    def dataset_names(self) -> list[str]:
        return [d.name for d in self.datasets]

    def label(self, metric_name: str) -> str:
        return self.metric_labels.get(metric_name) or metric(metric_name).label


class Task(Protocol):
    """What the experiment runner needs from a task module."""

    name: str
    spec: TaskSpec

    def load_data(
        self, config: RunConfig, progress: Callable[[int, int], None] | None = None, **data_settings: Any
    ) -> Any:
        """Load and split the data named by config.dataset or config.data; has `.meta`. A long load (a large
        folder) tells `progress(done, total)` how far it got. `data_settings`: what `data_settings(config)` gave,
        when the caller worked it out before (a page caches data by them)."""

    def data_settings(self, config: RunConfig) -> dict[str, Any]:
        """What of a run's config, beyond its split, decides the data it loads (image: the side a folder is decoded
        at, from the model's pretrained weights); a page loads and caches data by these."""

    def build_model(self, config: RunConfig, meta: dict[str, Any]) -> nn.Module: ...

    def make_objective(self, config: RunConfig, data: Any) -> Objective: ...

    def fit_closed_form(self, model: nn.Module, data: Any, config: RunConfig) -> None:
        """Fit a model that is not trained by gradient descent (scikit-learn, counting, a linear solve)."""

    def evaluate(self, model: nn.Module, data: Any) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
        """Test-split (metrics, JSON details, numpy artifacts)."""

    def example_input(self, data: Any) -> torch.Tensor: ...

    def train_size(self, data: Any) -> int:
        """Training examples (interactions for recsys): what the small-data batch rule reads."""

    def sample_train(self, data: Any, most: int, seed: int) -> tuple[Any, str]:
        """The data with at most `most` training examples (a seeded sample) for a baseline, and a note saying so."""

    def validation_score(self, model: nn.Module, data: Any) -> float | None:
        """A fitted model's primary metric on the validation split (which of several baselines to keep); None
        without one."""


@cache
def _specs() -> dict[str, TaskSpec]:
    """Every module of core/tasks/specs/ is a task's spec, and core/tasks/<its name>.py the task (adding a task
    adds no line to any list). Reading the specs imports no task module, so no PyTorch."""
    here = Path(__file__).parent / "specs"
    names = [m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")]
    found = [importlib.import_module(f"core.tasks.specs.{name}").SPEC for name in names]
    return {s.name: s for s in sorted(found, key=lambda s: (s.order, s.name))}


def task_names() -> list[str]:
    return list(_specs())


def task_spec(name: str) -> TaskSpec:
    """A task's spec without importing the task (its data loaders, models, PyTorch)."""
    specs = _specs()
    if name not in specs:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(specs)}")
    return specs[name]


def get_task(name: str) -> Task:
    """The task itself (imports core/tasks/<name>.py and with it PyTorch)."""
    return importlib.import_module(f"core.tasks.{task_spec(name).name}").TASK


def task_specs() -> list[TaskSpec]:
    return list(_specs().values())


def run_headline(run: dict[str, Any]) -> str:
    """A stored run's primary metric, labelled and formatted ('Test accuracy 97.22%'); '' when it has none."""
    try:
        spec = task_spec(run["task"])
    except ValueError:
        return ""
    value = (run.get("metrics") or {}).get(spec.primary_metric)
    return f"{spec.label(spec.primary_metric)} {metric(spec.primary_metric).format(value)}" if value is not None else ""


def load_run_model(store: RunStore, run_id: str) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a finished run's model from its checkpoint; returns (model in eval mode, checkpoint)."""
    from core.run.settings import RunConfig

    ckpt = store.load_checkpoint(run_id)
    config = RunConfig.from_dict(ckpt["config"])
    fresh = replace(config, init_from=None, weights_path=None, pretrained=None)  # the checkpoint holds them
    model = get_task(config.task).build_model(fresh, ckpt["meta"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt

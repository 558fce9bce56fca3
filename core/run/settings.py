"""The settings table: every run setting declared once, with its default, range, help and where it appears.

`RunConfig` extends the trainer's `TrainConfig` with what a run adds (task, data, split, the fit-to-data rule,
the baseline, DDP). Everything that lists settings (the CLI's flags in core/run/command.py, the pages' widgets, shared
links, the keys a model's spec may recommend) derives its list from here. It imports no model, task or page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from core.run.options import Option
from core.run.training import TrainConfig, config_options, setting

MIN_STEPS_PER_EPOCH = 4
MIN_FITTED_BATCH = 8
MIN_FITTED_EPOCHS = 5


def fit_rule(budget: int | None = None, min_steps: int | None = None) -> str:
    """The fit-to-data rule in words; with a model's example budget and step floor, their numbers."""
    text = (
        f"on small data the batch size shrinks to at most a quarter of the training examples (a power of two, at "
        f"least {MIN_FITTED_BATCH}), so every epoch takes at least {MIN_STEPS_PER_EPOCH} optimizer steps"
    )
    if min_steps:
        text += f", and the epochs grow so a run takes at least {min_steps:,} optimizer steps in all"
    if budget is None:
        return text
    return (
        f"{text}; on large data the epochs shrink (to at least {MIN_FITTED_EPOCHS}) so a run sees about {budget:,} "
        "examples in all, the model's example budget, and takes about as long as on the data its defaults were "
        "chosen on"
    )


BATCH_RULE = (
    f"{fit_rule()}; a model with a step floor trains more epochs on small data, so a run takes at least that many "
    f"optimizer steps; on large data a model with an example budget trains fewer epochs (at least "
    f"{MIN_FITTED_EPOCHS}), so a run sees about that many examples in all"
)


@dataclass
class RunConfig(TrainConfig):
    """A run's complete settings; stored with the run, shown back as a CLI line."""

    task: str = ""
    model: str = ""
    dataset: str | None = None
    data: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    weights_path: str | None = None
    pretrained: str | None = None  # the spec's published weights by source ("imagenet"): core.models.pretrained
    # only for a model with a backbone (its spec's `can_freeze`)
    freeze_backbone: bool = setting(False, "Freeze the backbone (train only the new head)", kind="bool")
    # learning rates a short search on the validation split tries before the run trains at the best
    # (core.run.lr_search);
    # the stored config of a run that searched holds the lr it chose and an empty list, its details the search
    lr_search: list[float] = field(default_factory=list)
    split_seed: int = setting(0, "Split seed", 0, 1_000_000, kind="int")  # the split stays put while `seed` varies
    fit_batch: bool = setting(True, "Fit the run to the size of the data", kind="bool", help=BATCH_RULE)
    baseline: bool = setting(
        True,
        "Classical baseline beside the run",
        kind="bool",
        help="fit the task's classical baseline on the run's split and test the run against it (a few seconds)",
    )
    example_budget: int | None = setting(
        None,
        "Example budget",
        0,
        10**10,
        kind="int",
        optional=True,
        help="on large data, fewer epochs (at least 5) so a run sees about this many examples in all (epochs x "
        "training examples); 0 = no budget",
        per_model=True,
    )
    min_steps: int | None = setting(
        None,
        "Step floor",
        0,
        10**7,
        kind="int",
        optional=True,
        help="on small data, more epochs so a run takes at least this many optimizer steps in all; 0 = none",
        per_model=True,
    )
    group_by: str = setting(
        "auto",
        "Split by speaker",
        kind="choice",
        choices=("auto", "speaker", "none"),
        choice_labels=(
            ("auto", "by speaker, when file names tell"),
            ("speaker", "by speaker"),
            ("none", "clip by clip"),
        ),
        help="speech only",
    )
    protocol: str = setting(
        "random",
        "Protocol",
        kind="choice",
        choices=("random", "time"),
        choice_labels=(("random", "random 80/10/10 per user"), ("time", "time-ordered: last item is the test")),
        help="recsys only",
    )
    nproc_per_node: int = setting(
        1,
        "Processes (DDP)",
        1,
        8,
        kind="int",
        help="train in this many processes at once under torchrun, each on its slice of every batch (DDP)",
    )

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> RunConfig:
        """A stored config (the store's JSON, a checkpoint's dict) as a RunConfig. Runs stored before a setting
        existed take its default (before `split_seed`, a run split by its `seed`); a stored key that is no longer a
        setting is dropped, so old runs in a user's store still open. Before `freeze_backbone` was a setting, it
        sat among the model options."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in stored.items() if k in names}
        known.setdefault("split_seed", known.get("seed", 0))
        options = dict(known.get("model_options") or {})
        if "freeze_backbone" in options:
            known.update(freeze_backbone=bool(options.pop("freeze_backbone")), model_options=options)
        return cls(**known)


RUN_OPTIONS: dict[str, Option] = config_options(RunConfig)
FIELDS = [f.name for f in fields(RunConfig)]
TRAIN_KEYS = {f.name for f in fields(TrainConfig)}  # what the trainer reads
PANEL_SETTINGS = tuple(name for name, option in RUN_OPTIONS.items() if option.panel)  # the training panel's
OFF_AT_ZERO = tuple(name for name, option in RUN_OPTIONS.items() if option.zero_is_off)  # 0 = off

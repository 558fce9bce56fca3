"""A run's settings on the command line, both ways, from the one settings table.

Each setting is declared once, as a field of `RunConfig` (core/run/config.py) with its Option: label, kind, range,
choices, help, whether 0 turns it off. `TRAIN_FLAGS` derives every `train` flag from those declarations, plus the
few config keys that are not a single value (model options, augmentation, weights). `add_train_settings` adds the
flags to a parser, `train_options` reads them back as make_config's keywords, and `command_for` writes a stored
config as the `python -m core train ...` line that reproduces it. A new setting on RunConfig is a new flag, read
back and written out, with no other edit.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from typing import Any

from core.run.config import BATCH_RULE, RUN_OPTIONS, make_config
from core.run.settings import RunConfig

# settings that only make sense as make_config's inputs, never typed as a flag
TASK_AND_MODEL = ("task", "model")
ALWAYS_SHOWN = ("dataset", "data", "model", "seed")  # in a reproduction line even at their defaults
FIRST = ("model", "dataset", "data")  # and first, in this order


@dataclass(frozen=True)
class Flag:
    """How one config key is written on the command line.

    `how`: "value" (`--lr 0.01`), "on" (a switch that sets True), "off" (a switch that sets False) or "pairs"
    (`--option width=64 depth=2`, a dict).
    """

    key: str
    flag: str
    how: str = "value"
    help: str = ""
    type: type | None = None
    choices: tuple = ()
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.key


def _setting_flag(name: str) -> Flag:
    """The flag of a RunConfig setting, from its Option: a value, or a switch away from a bool's default."""
    option = RUN_OPTIONS[name]
    words = "--" + name.replace("_", "-")
    if option.kind == "bool":
        if option.default:
            return Flag(name, "--no-" + words[2:], "off", f"turn off: {option.help or option.label.lower()}")
        return Flag(name, words, "on", option.help or option.label)
    text = option.label + (f": {option.help}" if option.help else "")
    text += f" ({option.range_text()}" + ("; 0 = off" if option.zero_is_off and "0 =" not in text else "")
    text += "; default: the model's spec)"
    kind = {"int": int, "float": float}.get(option.kind)
    metavar = "N" if option.kind == "int" and name not in ("epochs", "seed", "split_seed", "batch_size") else None
    return Flag(name, words, "value", text, kind, tuple(option.choices), metavar)


TRAIN_FLAGS: dict[str, Flag] = {
    "model": Flag("model", "--model", help="a model of the task (default: the task's)"),
    **{name: _setting_flag(name) for name in RUN_OPTIONS},
    "augment": Flag("augment", "--augment", "pairs", "e.g. shift=0.1 rotate=10 flip=true", metavar="KEY=VALUE"),
    "model_options": Flag("model_options", "--option", "pairs", "model options, e.g. width=64", metavar="KEY=VALUE"),
    "weights_path": Flag(
        "weights_path", "--weights", help="local weights file to start from (transfer learning)", metavar="FILE"
    ),
    "pretrained": Flag(
        "pretrained",
        "--pretrained",
        help="start from the weights the model's spec publishes (imagenet: torchvision's, fetched once into the "
        "torch hub cache under TORCH_HOME; see `list`)",
        metavar="SOURCE",
    ),
    "init_from": Flag("init_from", "--init-from", help="fine-tune from one of our own saved runs", metavar="RUN_ID"),
}
# the fit-to-data rule is long: its switch's help says it in full
TRAIN_FLAGS["fit_batch"] = Flag("fit_batch", "--no-fit-batch", "off", f"turn off the rule: {BATCH_RULE}")


def add_train_settings(parser: argparse.ArgumentParser) -> None:
    """Every run setting as a flag, each default None ("not given": the model's spec decides)."""
    for f in TRAIN_FLAGS.values():
        if f.how == "value":
            parser.add_argument(f.flag, dest=f.dest, type=f.type, choices=f.choices or None, metavar=f.metavar,
                                help=f.help)  # fmt: skip
        elif f.how == "on":
            parser.add_argument(f.flag, dest=f.dest, action="store_true", default=None, help=f.help)
        elif f.how == "off":
            parser.add_argument(f.flag, dest=f.dest, action="store_false", default=None, help=f.help)
        else:  # pairs
            parser.add_argument(f.flag, dest=f.dest, nargs="*", metavar=f.metavar, help=f.help)


def key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    """`KEY=VALUE` words as a dict, each value read as JSON where it is JSON (numbers, true/false), else text."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The train flags as make_config's keyword arguments (None: not given)."""
    given: dict[str, Any] = {}
    for f in TRAIN_FLAGS.values():
        if f.key in TASK_AND_MODEL:
            continue
        value = getattr(args, f.dest, None)
        given[f.key] = key_values(value, f.flag) or None if f.how == "pairs" else value
    return given


def command_for(config: RunConfig) -> str:
    """The `python -m core train ...` line that reproduces a run's config: only what differs from the spec.

    Settings the command line cannot take (and that differ from their defaults) are listed in a trailing shell
    comment rather than dropped silently.
    """
    defaults = make_config(config.task, config.model, dataset=config.dataset, data=config.data).to_dict()
    settings = config.to_dict()
    words, left_out = ["python", "-m", "core", "train", config.task], []
    data_flags = {"dataset": "--dataset", "data": "--data"}
    for key in sorted(settings, key=lambda k: FIRST.index(k) if k in FIRST else len(FIRST)):
        value, default = settings[key], defaults[key]
        if key == "task" or (value == default and key not in ALWAYS_SHOWN) or value is None and default is None:
            continue
        f = TRAIN_FLAGS.get(key)
        if key in data_flags:
            words += [data_flags[key], str(value)]
        elif f is None:
            left_out.append(f"{key}={json.dumps(value)}")
        elif f.how == "pairs":
            items = {k: v for k, v in (value or {}).items() if v != (default or {}).get(k)}
            if items:
                words += [f.flag, *(f"{k}={_json_word(v)}" for k, v in items.items())]
        elif f.how in ("on", "off"):
            words += [f.flag] if value != default else []
        else:
            off = RUN_OPTIONS[key].zero_is_off if key in RUN_OPTIONS else False
            words += [f.flag, "0" if off and value is None else str(value)]
    line = " ".join(shlex.quote(w) for w in words)
    return line + (f"  # not settable from the command line: {' '.join(left_out)}" if left_out else "")


def _json_word(value: Any) -> str:
    """A KEY=VALUE value that `key_values` reads back as the same Python value."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value  # a plain string stays plain
    return json.dumps(value)

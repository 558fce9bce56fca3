"""A setting a user can change (run settings, model options, augmentation): its label, default and range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One setting a user can change (a model option or an augmentation): label, default, range.

    `kind` is int | float | bool | choice; `optional` adds an on/off switch (off = None). `choices`
    lists the values of a choice, `choice_labels` (value, words) pairs for those shown in words. A run setting
    also says where it appears: `panel` (among the training panel's widgets) and `per_model` (a model's spec may
    recommend its value).
    """

    name: str
    label: str
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    kind: str = "float"
    optional: bool = False
    choices: tuple = ()
    help: str = ""
    choice_labels: tuple = ()
    panel: bool = False
    per_model: bool = False

    def label_of(self, value: Any) -> str:
        """A value in words: a choice's label where it has one."""
        return dict(self.choice_labels).get(value, str(value))

    def check(self, value: Any, owner: str) -> Any:
        """The value cast to its kind, or ValueError naming the setting and its range."""
        if value is None and self.optional:
            return None
        where = f"{owner}: {self.name}" if owner else self.name
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(f"{where} must be true or false, not {value!r}")
        if self.kind == "choice":
            if value in self.choices:
                return value
            raise ValueError(f"{where} must be one of {', '.join(map(str, self.choices))}, not {value!r}")
        try:
            if isinstance(value, (bool, str)):
                raise TypeError
            number = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be a number ({self.range_text()}), not {value!r}") from None
        except OverflowError:  # int(inf): `--option width=Infinity` or `1e999`
            raise ValueError(f"{where} = {value!r} is outside {self.range_text()}") from None
        if self.kind == "int" and number != value:
            raise ValueError(f"{where} must be a whole number ({self.range_text()}), not {value!r}")
        if not math.isfinite(number) or not (self.low is None or number >= self.low):
            raise ValueError(f"{where} = {value!r} is outside {self.range_text()}")
        if self.high is not None and number > self.high:
            raise ValueError(f"{where} = {value!r} is outside {self.range_text()}")
        return number

    @property
    def zero_is_off(self) -> bool:
        """An optional number whose range starts at 0: 0 means off (None), as the widgets and the CLI write it."""
        return self.optional and self.kind in ("int", "float") and self.low == 0

    def range_text(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        return f"{self.low:g} to {self.high:g}"

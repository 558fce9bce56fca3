"""Data loading shared by every task: archives, class folders, splits and the error they raise."""

import os


class DataError(ValueError):
    """Bad input data; the message names the file and what is wrong with it."""


def env_limit(name: str, default: float) -> float:
    """A limit that the environment variable `name` may override (a plain number), else `default`."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected a number") from None
    if not value > 0:
        raise ValueError(f"{name}={text!r}: expected a number above 0")
    return value

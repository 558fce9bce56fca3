"""Data loading shared by every task: archives, class folders, splits and the error they raise."""

import os
import time
import uuid
from pathlib import Path


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


STALE_SECONDS = 3600  # a temporary file this old belongs to a process that died


def evict_least_recent(folder: Path, cap_bytes: float, keep: Path, pattern: str = "*.npy") -> None:
    """A file cache kept under `cap_bytes`: the least recently used files go first (never `keep`), and temporary
    files (`.*.tmp`) left by a process that died are removed."""
    now = time.time()
    for tmp in folder.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_SECONDS:
                tmp.unlink(missing_ok=True)
        except OSError:
            pass
    entries = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)  # least recently used first
    total = sum(p.stat().st_size for p in entries)
    for p in entries:
        if total <= cap_bytes:
            return
        if p != keep:
            total -= p.stat().st_size
            p.unlink(missing_ok=True)


def save_cached_array(path: Path, arr, cap_bytes: float) -> None:
    """One .npy of a cache folder, written to a temporary file and renamed (a load never reads half a file), then
    the folder kept under `cap_bytes` (evict_least_recent). An unwritable cache is no error."""
    import numpy as np

    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, path)
        evict_least_recent(path.parent, cap_bytes, keep=path)
    except OSError:
        tmp.unlink(missing_ok=True)

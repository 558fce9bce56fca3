"""Where data may come from: the app's data folders (roots) and the checks on a path someone typed or passed."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from core.data import DataError

PROJECT = Path(__file__).resolve().parents[2]


def user_data_dir() -> Path:
    """The app's own data folder (uploads, recordings, extracted archives): DLSTUDIO_USER_DATA, else ./user_data."""
    return Path(os.environ.get("DLSTUDIO_USER_DATA", "user_data"))


def data_roots() -> list[Path]:
    """The folders the web app reads: user_data/, the bundled sample_data/, and those in DLSTUDIO_DATA_ROOTS.

    DLSTUDIO_DATA_ROOTS holds more folders separated by os.pathsep (':' on Linux and macOS).
    """
    extra = os.environ.get("DLSTUDIO_DATA_ROOTS", "").split(os.pathsep)
    return [user_data_dir(), PROJECT / "sample_data", *(Path(p.strip()).expanduser() for p in extra if p.strip())]


def resolve_in_roots(text: str) -> Path:
    """The real path (symlinks and `..` resolved) of `text` when it lies inside a data root, else a DataError.

    The message is the same whether or not the path exists, so it tells nothing about what is on the machine.
    """
    roots = [root.resolve() for root in data_roots()]
    try:
        resolved = Path(text.strip()).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte: outside by definition
        resolved = None
    if resolved is None or not any(resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots)
        raise DataError(f"{text.strip()[:200]}: is not inside the app's data folders ({shown})")
    return resolved


def check_data_path(path: str | Path) -> Path:
    """`path` when it is a folder or a regular file; a device, pipe or socket is refused without reading a byte."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if not (path.is_dir() or path.is_file()):
        raise DataError(
            f"{path}: not a regular file or folder (a device, pipe or socket); give a folder, a .zip or a data file"
        )
    return path


def check_file(path: str | Path, what: str) -> Path:
    """`path` unless it is a folder, device, pipe or socket, refused without reading a byte (a FIFO would block
    the reader until someone writes to it). A path that does not exist is left to the reader to report."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise DataError(f"{path}: not a regular file (a folder, device, pipe or socket); give {what}")
    return path


def check_inside(folder: Path, files: Iterable[Path]) -> None:
    """Every file a folder input reads resolves inside that folder: a link out of it (to a file outside the data
    roots, say) is refused naming the link, never read. Links within the folder are fine."""
    base = folder.resolve()
    for file in files:
        if not file.resolve().is_relative_to(base):
            shown = f"{folder.name}/{file.relative_to(folder).as_posix()}"
            raise DataError(f"{shown}: a link to a file outside this folder, which is not read; copy the file in")

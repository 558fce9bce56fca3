"""Class-folder datasets (a folder or .zip of one subfolder per class, optional train/val/test)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from core.data import DataError
from core.data.archive import extract_zip

SPLITS = ("train", "val", "test")
IGNORED = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class FolderIndex:
    """Files and labels of a class-folder dataset; `split` is given by the folders or carved later."""

    class_names: list[str]
    files: dict[str, list[Path]] = field(default_factory=dict)  # split -> files
    labels: dict[str, list[int]] = field(default_factory=dict)  # split -> class indices
    given_split: bool = False


def open_data_path(path: str | Path, workdir: str | Path | None = None) -> Path:
    """A folder as it is; a .zip extracted safely into `workdir` (a temp dir by default)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise DataError(
                f"{path.name}: expected a folder or a .zip archive of one, got a {path.suffix or 'plain'} file"
            )
        workdir = Path(workdir or tempfile.mkdtemp(prefix="dlstudio-"))
        path = extract_zip(path, workdir / path.stem)
    return _descend_single(path)


def _visible(children) -> list[Path]:
    return sorted(c for c in children if c.name not in IGNORED and not c.name.startswith("."))


def _descend_single(path: Path) -> Path:
    """A zip of a folder holds one top folder: use what is inside it."""
    while True:
        kids = _visible(path.iterdir())
        inner = _visible(kids[0].iterdir()) if len(kids) == 1 and kids[0].is_dir() else []
        # a wrapper folder holds only folders; a lone class folder holds files
        if inner and all(k.is_dir() for k in inner) and kids[0].name.lower() not in SPLITS:
            path = kids[0]
        else:
            return path


def index_folder(root: Path, extensions: set[str] | None = None) -> FolderIndex:
    """Scan class subfolders (or train/val/test folders of them) and check the shape of the data."""
    kids = {c.name.lower(): c for c in _visible(root.iterdir()) if c.is_dir()}
    if "train" in kids and "test" in kids:
        splits = {s: kids[s] for s in SPLITS if s in kids}
        class_names = sorted({c.name for d in splits.values() for c in _visible(d.iterdir()) if c.is_dir()})
        index = FolderIndex(class_names, given_split=True)
        for split, folder in splits.items():
            index.files[split], index.labels[split] = _scan_classes(folder, class_names, extensions)
    else:
        class_names = [c.name for c in _visible(root.iterdir()) if c.is_dir()]
        index = FolderIndex(class_names)
        index.files["all"], index.labels["all"] = _scan_classes(root, class_names, extensions)
    if len(class_names) < 2:
        found = f"only {class_names[0]!r}" if class_names else "none"
        raise DataError(f"{root.name}: needs at least two class subfolders, found {found}")
    return index


def _scan_classes(folder: Path, class_names: list[str], extensions) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        found = [
            f
            for f in _visible(class_dir.rglob("*"))
            if f.is_file() and (extensions is None or f.suffix.lower() in extensions)
        ]
        if not found:
            raise DataError(f"{folder.name}/{name}: class folder is empty (no usable files)")
        files += found
        labels += [label] * len(found)
    return files, labels


def stratified_split(
    labels: np.ndarray, seed: int, test_size: float = 0.2, val_size: float = 0.1, given_test: bool = False
) -> dict[str, np.ndarray]:
    """Seeded stratified split of indices into train/val/test (val only when `given_test`)."""
    idx = np.arange(len(labels))
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 3 else None
    if given_test:
        train, val = _split_once(idx, val_size / (1 - test_size), seed, stratify)
        return {"train": train, "val": val}
    rest, test = _split_once(idx, test_size, seed, stratify)
    strat_rest = labels[rest] if stratify is not None else None
    train, val = _split_once(rest, val_size / (1 - test_size), seed, strat_rest)
    return {"train": train, "val": val, "test": test}


def _split_once(idx: np.ndarray, size: float, seed: int, stratify) -> tuple[np.ndarray, np.ndarray]:
    try:
        return train_test_split(idx, test_size=size, random_state=seed, stratify=stratify)
    except ValueError:  # a part too small to hold every class (a few recorded clips): split without strata
        return train_test_split(idx, test_size=size, random_state=seed)

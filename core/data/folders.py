"""Class-folder datasets (a folder or .zip of one subfolder per class, optional train/val/test) and their splits."""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from core.data import DataError
from core.data.archive import cached_extraction
from core.data.roots import check_data_path, check_inside

SPLITS = ("train", "val", "test")
# Folder names read as a split (any case): each split goes by several names.
SPLIT_FOLDERS = {
    **dict.fromkeys(("train", "training"), "train"),
    **dict.fromkeys(("test", "testing", "eval", "evaluation", "holdout"), "test"),
    **dict.fromkeys(("val", "valid", "validation", "dev"), "val"),
}
HELD_OUT = {"eval", "evaluation", "holdout"}  # the test split, or the validation split beside a test/ folder
IGNORED = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}
DOCUMENTS = {"", ".txt", ".md", ".rst", ".html", ".pdf", ".csv"}  # README, LICENSE, lists, speakers.csv: no data
SPLIT_NOTE = "seeded stratified split 70/10/20 (train/validation/test)"
TEST_SHARE, VAL_SHARE = 0.2, 0.1  # of all examples when no split is given: 70/10/20


class TooFewGroups(DataError):
    """Too few groups (speakers) to give every split its own."""


@dataclass
class FolderIndex:
    """Files and labels of a class-folder dataset; `split` is given by the folders or carved later."""

    class_names: list[str]
    files: dict[str, list[Path]] = field(default_factory=dict)  # split (or "all") -> files
    labels: dict[str, list[int]] = field(default_factory=dict)  # split (or "all") -> class indices
    given_split: bool = False
    folder_names: dict[str, str] = field(default_factory=dict)  # split -> its folder's own name (dev/ for val)
    left_out: list[str] = field(default_factory=list)  # folders found where classes are, known not to be one

    @property
    def all_files(self) -> list[Path]:
        """Every file, split after split: the positions `split_index` returns point into this list."""
        return [f for files in self.files.values() for f in files]

    @property
    def all_labels(self) -> np.ndarray:
        return np.array([y for ys in self.labels.values() for y in ys], dtype=np.int64)

    def origin(self) -> np.ndarray:
        """The split (or "all") each file of `all_files` came from."""
        return np.array([s for s, files in self.files.items() for _ in files])


def open_data_path(path: str | Path) -> Path:
    """A folder as it is; a .zip extracted safely, once per content, into user_data/extracted/ (archive.py)."""
    path = check_data_path(path)
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise DataError(
                f"{path.name}: expected a folder or a .zip archive of one, got a {path.suffix or 'plain'} file"
            )
        path = cached_extraction(path)
    return _descend_single(path)


def _visible(children) -> list[Path]:
    return sorted(c for c in children if c.name not in IGNORED and not c.name.startswith("."))


def _descend_single(path: Path) -> Path:
    """A zip of a folder holds one top folder: use what is inside it."""
    while True:
        kids = _visible(path.iterdir())
        inner = _visible(kids[0].iterdir()) if len(kids) == 1 and kids[0].is_dir() else []
        # a wrapper folder holds folders, and beside them at most documents (Speech Commands' README, LICENSE
        # and split lists); a lone class folder holds data files
        wraps = any(k.is_dir() for k in inner) and all(k.is_dir() or k.suffix.lower() in DOCUMENTS for k in inner)
        if wraps and kids[0].name.lower() not in SPLIT_FOLDERS:
            path = kids[0]
        else:
            return path


def _split_folders(root: Path) -> dict[str, Path]:
    """train/ with test/ and/or a validation folder (val/, dev/, eval/ beside test/ ...), each of class folders."""
    named = {
        child: SPLIT_FOLDERS[child.name.lower()]
        for child in _visible(root.iterdir())
        if child.name.lower() in SPLIT_FOLDERS and child.is_dir() and any(c.is_dir() for c in _visible(child.iterdir()))
    }
    has_test = any(split == "test" and c.name.lower() not in HELD_OUT for c, split in named.items())
    found: dict[str, Path] = {}
    for child, split in named.items():
        if has_test and child.name.lower() in HELD_OUT:
            split = "val"
        if split in found:
            raise DataError(f"{root.name}: both {found[split].name}/ and {child.name}/ are a {split} split; keep one")
        found[split] = child
    return found if "train" in found and len(found) > 1 else {}


def index_folder(root: Path, extensions: set[str] | None = None, not_classes: Collection[str] = ()) -> FolderIndex:
    """Scan class subfolders (or train/val/test folders of them) and check the shape of the data.

    Folders named in `not_classes` (a data set's known extras, such as Speech Commands' `_background_noise_`)
    are not classes: they are left out, and `left_out` says which were found.
    """
    splits = _split_folders(root)
    parents = list(splits.values()) if splits else [root]
    found = sorted({c.name for d in parents for c in _visible(d.iterdir()) if c.is_dir()})
    class_names = [c for c in found if c not in not_classes]
    if splits:
        index = FolderIndex(class_names, given_split=True)
        for split in SPLITS:
            if split in splits:
                index.files[split], index.labels[split] = _scan_classes(splits[split], class_names, extensions)
                index.folder_names[split] = splits[split].name
    else:
        index = FolderIndex(class_names)
        index.files["all"], index.labels["all"] = _scan_classes(root, class_names, extensions)
    index.left_out = [c for c in found if c in not_classes]
    check_inside(root, index.all_files)
    _check_no_split_named_classes(root, class_names)
    if len(class_names) < 2:
        seen = f"only {class_names[0]!r}" if class_names else "none"
        raise DataError(f"{root.name}: needs at least two class subfolders, found {seen}")
    if index.given_split:
        _check_train_has_every_class(root, index)
    return index


def _check_no_split_named_classes(root: Path, class_names: list[str]) -> None:
    """A class named like a split (training/, holdout/) is a split read wrong: the model would learn the folder."""
    splitlike = [c for c in class_names if c.lower() in SPLIT_FOLDERS]
    if splitlike:
        names = ", ".join(f"{c}/" for c in splitlike)
        raise DataError(
            f"{root.name}: {names} look like split folders, not classes; use train/ with test/ (and optionally "
            "val/), each holding one folder per class, or one folder per class with no split folders"
        )


def _check_train_has_every_class(root: Path, index: FolderIndex) -> None:
    """A class that only val/ or test/ holds can never be predicted: refuse rather than report a hollow score."""
    trained = set(index.labels["train"])
    for split in ("val", "test"):
        unseen = sorted({index.class_names[c] for c in index.labels.get(split, []) if c not in trained})
        if unseen:
            raise DataError(
                f"{root.name}: {index.folder_names[split]}/ holds class(es) {', '.join(unseen)} that "
                f"{index.folder_names['train']}/ lacks; a model cannot learn a class it never sees in training"
            )


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


def split_index(
    index: FolderIndex, seed: int, groups: np.ndarray | None = None, group_name: str = "speaker"
) -> tuple[dict[str, np.ndarray], str]:
    """Train/val/test positions into `index.all_files`, and a note saying how they were made.

    Given split folders are kept; a missing validation split is carved from train/ (1/8 of it), a missing
    test split too (1/5 of it), never from test/. Without split folders: a seeded stratified 70/10/20 split.
    With `groups` (one per file, such as the speaker), carving keeps each group in one split, stratified as
    far as the groups allow.
    """
    labels = index.all_labels
    if not index.given_split:
        if groups is None:
            return stratified_split(labels, seed), SPLIT_NOTE
        rest, test = _carve_groups(np.arange(len(labels)), labels, groups, TEST_SHARE, seed, group_name)
        train, val = _carve_groups(rest, labels, groups, VAL_SHARE / (1 - TEST_SHARE), seed, group_name)
        parts = {"train": train, "val": val, "test": test}
        note = f"seeded split 70/10/20 (train/validation/test), stratified as far as {group_name}s allow"
        return parts, f"{note}; grouped by {group_name}: {group_note(parts, groups, group_name)}"
    origin = index.origin()
    parts = {s: np.flatnonzero(origin == s) for s in SPLITS if s in index.files}
    names = index.folder_names
    if "val" in parts and "test" in parts:
        note = f"train/validation/test: your own {names['train']}/, {names['val']}/ and {names['test']}/ folders"
    elif "test" in parts:
        parts["train"], parts["val"] = _carve(parts["train"], labels, groups, seed, "val", group_name)
        note = f"test: your {names['test']}/ folder; validation: 1/8 of your {names['train']}/ folder"
    else:
        parts["train"], parts["test"] = _carve(parts["train"], labels, groups, seed, "test", group_name)
        note = f"validation: your {names['val']}/ folder; test: 1/5 of your {names['train']}/ folder"
    carved = "your own" not in note
    if groups is None:
        note += " (seeded, stratified)" if carved else ""
    elif carved:
        note += f" (seeded, stratified as far as {group_name}s allow); grouped by {group_name}: "
        note += group_note(parts, groups, group_name)
    else:
        note += f"; {group_note(parts, groups, group_name)}"
    return {s: parts[s] for s in SPLITS}, note


def _carve(
    idx: np.ndarray, labels: np.ndarray, groups: np.ndarray | None, seed: int, part: str, group_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held-out) of a given train/ folder: 1/8 for validation, 1/5 for a test split the folders lack."""
    share = VAL_SHARE / (1 - TEST_SHARE) if part == "val" else TEST_SHARE
    if groups is not None:
        return _carve_groups(idx, labels, groups, share, seed, group_name)
    if part == "val":  # the same split as ever for train/ + test/ folders, so stored runs reload on theirs
        carved = stratified_split(labels[idx], seed, given_test=True)
        return idx[carved["train"]], idx[carved["val"]]
    counts = np.bincount(labels[idx])
    return _split_once(idx, share, seed, labels[idx] if counts[counts > 0].min() >= 3 else None)


def _carve_groups(
    idx: np.ndarray, labels: np.ndarray, groups: np.ndarray, share: float, seed: int, group_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out about `share` of `idx` in whole groups, stratified by label as far as the groups allow."""
    n_groups = len(np.unique(groups[idx]))
    if n_groups < 2:
        raise TooFewGroups(f"only {n_groups} {group_name} left to split by; at least one more is needed per split")
    folds = StratifiedGroupKFold(n_splits=min(max(2, round(1 / share)), n_groups), shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "the least populated class has fewer members than n_splits": expected here
        warnings.simplefilter("ignore", UserWarning)
        rest, held = next(folds.split(idx, labels[idx], groups[idx]))
    return idx[rest], idx[held]


def group_note(parts: dict[str, np.ndarray], groups: np.ndarray, group_name: str = "speaker") -> str:
    """'12 speakers, none in two splits' (or how many are, when given split folders share some)."""
    seen: dict[str, int] = {}
    for idx in parts.values():
        for g in np.unique(groups[idx]):
            seen[g] = seen.get(g, 0) + 1
    shared = sum(n > 1 for n in seen.values())
    where = "none in two splits" if not shared else f"{shared} of them in more than one split"
    return f"{len(seen)} {group_name}s, {where}"


def coverage_note(parts: dict[str, np.ndarray], labels: np.ndarray, class_names: list[str]) -> str:
    """'; warning: ...' for a split note when a class has no test or no training examples, else ''."""
    present = {split: set(labels[idx].tolist()) for split, idx in parts.items()}
    untested = [name for c, name in enumerate(class_names) if c not in present.get("test", set())]
    untrained = [name for c, name in enumerate(class_names) if c not in present.get("train", set())]
    out = ""
    if untested:
        out += f"; warning: no test examples of {', '.join(untested)}, so accuracy on them is not measured"
    if untrained:
        out += f"; warning: no training examples of {', '.join(untrained)}, so the model cannot learn them"
    return out


def files_per_class(folder: Path, pattern: str) -> dict[str, int]:
    """How many files matching `pattern` each class folder of a page-made dataset holds ({} with no folder)."""
    if not folder.is_dir():
        return {}
    return {d.name: len(list(d.glob(pattern))) for d in sorted(folder.iterdir()) if d.is_dir()}


def next_number(folder: Path, prefix: str, suffix: str) -> int:
    """1 + the highest N of the `<prefix>N<suffix>` files in `folder`: new items go after those saved before."""
    pattern = re.compile(rf"{re.escape(prefix)}(\d+){re.escape(suffix)}")
    taken = [int(m.group(1)) for p in folder.glob(f"{prefix}*{suffix}") if (m := pattern.fullmatch(p.name))]
    return max(taken, default=0) + 1

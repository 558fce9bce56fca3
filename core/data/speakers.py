"""Who speaks in each clip, read from a speakers.csv, file names or folders, so that a split keeps every speaker
in one part."""

from __future__ import annotations

import csv
import posixpath
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.data import DataError

GROUP_BY = ("auto", "speaker", "none")
# Speech Commands: <speaker>_nohash_<n>.wav
NOHASH = re.compile(r"^(?P<speaker>.+?)_nohash_\d+$", re.IGNORECASE)
# free-spoken-digit: <label>_<speaker>_<n>.wav (read only when <label> is the clip's class folder)
LABEL_SPEAKER_N = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_\d+$")
FORMS = "<speaker>_nohash_<n>.wav, <label>_<speaker>_<n>.wav or <class>/<speaker>/<file>"
SPEAKERS_FILE = "speakers.csv"  # beside the class folders: file (path from there), speaker; for any naming
UNREAD = (
    f"; warning: speakers not found in file names: voices may be in both training and test (name clips {FORMS}, "
    f"or put a {SPEAKERS_FILE} of file,speaker beside the class folders)"
)


def speaker_of(path: Path, class_name: str) -> str | None:
    """The speaker of one clip in the folder of `class_name`, or None when neither its name nor folder says."""
    match = NOHASH.match(path.stem)
    if match:
        return match["speaker"]
    match = LABEL_SPEAKER_N.match(path.stem)
    if match and match["label"].lower() == class_name.lower():
        return match["speaker"]
    # class/speaker/file.wav: the first folder level under the class folder
    ancestors = [p.name for p in path.parents]
    if ancestors[0] != class_name and class_name in ancestors[1:]:
        depth = ancestors.index(class_name, 1)
        return ancestors[depth - 1]
    return None


def speakers_table(root: Path) -> dict[str, str] | None:
    """`root`/speakers.csv as {file path from root: speaker}; None without one. A header row is optional."""
    path = root / SPEAKERS_FILE
    if not path.is_file():
        return None
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        rows = [r for r in csv.reader(f) if len(r) >= 2 and r[0].strip() and r[1].strip()]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["file", "speaker"]:
        rows = rows[1:]
    return {posixpath.normpath(r[0].strip().replace("\\", "/")): r[1].strip() for r in rows}


def read_speakers(
    files: Sequence[Path], labels: Sequence[int], class_names: list[str], root: Path | None = None
) -> np.ndarray | None:
    """One group per clip: its speaker, or (unknown speaker) the clip itself. None when at most half of the
    clips name a speaker: then the names are no speaker scheme, and grouping would be guesswork. A speakers.csv
    in `root` names them instead of the file names."""
    table = speakers_table(root) if root is not None else None
    if table is not None:
        speakers = [table.get(Path(f).relative_to(root).as_posix()) for f in files]
    else:
        speakers = [speaker_of(Path(f), class_names[y]) for f, y in zip(files, labels)]
        _read_relabelled_classes(files, labels, speakers)
    if sum(s is not None for s in speakers) * 2 <= len(speakers):
        return None
    return np.array([f"speaker:{s}" if s is not None else f"clip:{f}" for f, s in zip(files, speakers)])


def _read_relabelled_classes(files: Sequence[Path], labels: Sequence[int], speakers: list[str | None]) -> None:
    """A class folder whose every file reads `<label>_<speaker>_<n>` with one and the same <label> that is not the
    folder's name (free-spoken-digit files `0_jackson_0.wav` filed under `zero/`): <label> is this folder's own
    name for its class, so the middle part is the speaker. Fills those in `speakers`, in place."""
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        if speakers[i] is None:
            by_class.setdefault(int(y), []).append(i)
    sizes = Counter(int(y) for y in labels)
    for y, where in by_class.items():
        if len(where) != sizes[y]:
            continue  # some of the class's files were read another way: no single scheme
        matches = [LABEL_SPEAKER_N.match(Path(files[i]).stem) for i in where]
        if all(matches) and len({m["label"].lower() for m in matches}) == 1:
            for i, m in zip(where, matches):
                speakers[i] = m["speaker"]


def speaker_groups(
    files: Sequence[Path],
    labels: Sequence[int],
    class_names: list[str],
    group_by: str = "auto",
    root: Path | None = None,
) -> np.ndarray | None:
    """The groups a split must keep whole under `group_by`: "auto" (by speaker when speakers are read from the
    names or `root`'s speakers.csv), "speaker" (by speaker, an error when none can be read) or "none"."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
    if group_by == "none":
        return None
    groups = read_speakers(files, labels, class_names, root)
    if groups is None and group_by == "speaker":
        raise DataError(
            f"group_by=speaker: no speaker could be read from the file names or folders; name them {FORMS}, or put "
            f"a {SPEAKERS_FILE} of file,speaker beside the class folders"
        )
    return groups

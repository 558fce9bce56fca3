"""Interaction files (user, item, rating[, timestamp]) and item files: sniffing, validation, duplicates, splits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import DataError
from core.data.roots import check_data_path, check_inside
from core.exec.memory import memory_room

MAX_FILE_BYTES = 2 * 1024**3  # refuse bigger files before reading a byte of them
BYTES_PER_ROW_IN_MEMORY = 200  # two id strings as Python objects, a rating, a timestamp, a row number
CHUNK_ROWS = 1_000_000
MAX_ABS_RATING = 1e6  # a rating beyond this is a broken file, and overflows float32 arithmetic long before 1e300
RATINGS_FILES = ("u.data", "ratings.dat", "ratings.csv", "ratings.tsv", "interactions.csv", "interactions.tsv")
ITEMS_FILES = ("u.item", "movies.dat", "movies.csv", "items.csv", "items.tsv", "items.dat")
DUPLICATE_RULE = (
    "a repeated (user, item) pair keeps its latest row by timestamp (without timestamps, the last in the file)"
)
ALIASES = {
    "user": {"user", "userid", "user_id", "uid", "users", "customer", "customerid", "customer_id", "visitor"},
    "item": {"item", "itemid", "item_id", "iid", "items", "movie", "movieid", "movie_id", "product", "productid"},
    "rating": {"rating", "ratings", "score", "stars", "value", "rate"},
    "timestamp": {"timestamp", "time", "ts", "date", "datetime", "unix_timestamp"},
}
ITEM_HEADER_NAMES = {"id", "title", "name", "genres", "genre", "category", "categories"}
# MovieLens 100k's u.item ends in these 19 genre flags (u.genre).
ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


@dataclass
class Sniffed:
    """What the first lines of a delimited text file say about it."""

    sep: str
    header: list[str] | None
    columns: int
    encoding: str
    first: list[str]  # the first line's fields


@dataclass
class InteractionFile:
    """A validated interactions table: columns user, item (str), rating (float32), timestamp (float64, NaN if none)."""

    frame: pd.DataFrame
    has_timestamp: bool
    duplicates_dropped: int
    name: str


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_line(line: str, sep: str) -> list[str]:
    if sep == r"\s+":
        return line.split()
    return [f.strip().strip('"') for f in line.split(sep)]


def sniff(path: Path, sample_bytes: int = 65536) -> Sniffed:
    """Separator (`::`, tab, `,`, `;`, `|` or spaces), header and encoding, from the first 64 KB."""
    with open(path, "rb") as f:
        raw = f.read(sample_bytes)
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        # a cut multi-byte character at the end of the sample is still UTF-8
        if exc.start >= len(raw) - 4:
            text, encoding = raw[: exc.start].decode("utf-8"), "utf-8"
        else:
            text, encoding = raw.decode("latin-1"), "latin-1"
    lines = [ln for ln in text.lstrip("\ufeff").splitlines()[:50] if ln.strip()]
    if len(raw) == sample_bytes and len(lines) > 1:
        lines = lines[:-1]  # the last line of the sample may be cut short
    if not lines:
        raise DataError(f"{path.name}: the file is empty")
    first = lines[0]
    if all("::" in ln for ln in lines):
        sep = "::"
    elif "\t" in first:
        sep = "\t"
    elif "," in first:
        sep = ","
    elif ";" in first:
        sep = ";"
    elif "|" in first:
        sep = "|"
    elif len(first.split()) > 1:
        sep = r"\s+"
    else:
        raise DataError(
            f"{path.name}: only one column; expected user, item, rating[, timestamp] separated by ',', tab or '::'"
        )
    fields = _split_line(first, sep)
    known = {a for names in ALIASES.values() for a in names}
    names_match = sum(f.lower().replace(" ", "") in known for f in fields) >= 2
    second = _split_line(lines[1], sep) if len(lines) > 1 else fields
    third_is_text = len(fields) >= 3 and not _is_number(fields[2])
    header = fields if names_match or (third_is_text and len(second) >= 3 and _is_number(second[2])) else None
    return Sniffed(sep, header, len(fields), encoding, fields)


def _column_positions(sniffed: Sniffed, name: str) -> dict[str, int]:
    """Where user, item, rating and timestamp are: by header name, else by position."""
    if sniffed.header is None:
        if sniffed.columns < 3:
            raise DataError(
                f"{name}: {sniffed.columns} columns; expected at least 3 (user, item, rating[, timestamp]) — "
                "the rating column is missing"
            )
        return {k: i for i, k in enumerate(("user", "item", "rating", "timestamp")) if i < sniffed.columns}
    found: dict[str, int] = {}
    for i, col in enumerate(sniffed.header):
        key = col.lower().replace(" ", "")
        for role, names in ALIASES.items():
            if key in names and role not in found:
                found[role] = i
    missing = [r for r in ("user", "item", "rating") if r not in found]
    if missing:  # the header itself is not echoed: a message shows no more of a file than one short field
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}; expected a header of user, item, rating[, timestamp] "
            "(or names such as userId, movieId, rating)"
        )
    return found


def _check_size(path: Path, max_bytes: int, sniffed_line_bytes: float) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(
            f"{path.name}: the file is {size / 1e9:.1f} GB; the limit is {max_bytes / 1e9:.1f} GB "
            "(interactions are held in memory to train on a CPU)"
        )
    rows = size / max(sniffed_line_bytes, 1.0)
    need = rows * BYTES_PER_ROW_IN_MEMORY
    room = memory_room()  # the machine's free memory, or less where an rlimit or a cgroup says so
    if room is not None and need > room[0] / 2:
        raise DataError(
            f"{path.name}: about {rows / 1e6:.0f} million rows would need ~{need / 1e9:.1f} GB of memory, "
            f"more than half of the {room[0] / 1e9:.1f} GB this process may still use ({room[1]})"
        )


def _mean_line_bytes(path: Path) -> float:
    with open(path, "rb") as f:
        sample = f.read(65536)
    return len(sample) / max(sample.count(b"\n"), 1)


def _read_table(path: Path, sniffed: Sniffed, usecols: list[int], chunksize: int | None = None):
    """pandas.read_csv with the sniffed separator.

    `::` is read by the fast C parser as ':' with empty fields between.
    """
    sep, cols = sniffed.sep, usecols
    engine = "c"
    if sep == "::":
        with open(path, encoding=sniffed.encoding, errors="replace") as f:
            head = [f.readline() for _ in range(20)]
        if all(":" not in part for ln in head for part in ln.rstrip("\n").split("::")):
            sep, cols = ":", [2 * c for c in usecols]
        else:
            engine = "python"
    return pd.read_csv(
        path,
        sep=sep,
        header=0 if sniffed.header else None,
        usecols=cols,
        dtype=str,
        encoding=sniffed.encoding,
        engine=engine,
        skipinitialspace=True,
        keep_default_na=False,
        chunksize=chunksize,
        quotechar='"',
    )


def _line_number(path: Path, encoding: str, row: int, header: bool) -> int:
    """The line (from 1) of data row `row` (from 0) as an editor counts it: pandas skips blank lines, people don't."""
    target, seen = row + int(header), -1
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        for number, line in enumerate(f, 1):
            if line.rstrip("\r\n"):
                seen += 1
                if seen == target:
                    return number
    return target + 1


def _where(path: Path, sniffed: Sniffed, start: int, i: int) -> str:
    """'ratings.csv: line 12' for row `i` of the chunk that starts at data row `start`."""
    return f"{path.name}: line {_line_number(path, sniffed.encoding, start + int(i), bool(sniffed.header))}"


def _shown(value: str) -> str:
    """One field as a message may show it: at most 20 printable characters, quoted."""
    text = "".join(c if c.isprintable() else "?" for c in str(value)[:20])
    return repr(text + ("…" if len(str(value)) > 20 else ""))


def _numeric(values: pd.Series, what: str, line_of) -> np.ndarray:
    """`values` as float64; the first that is not a finite number, or lies beyond MAX_ABS_RATING, is refused."""
    out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(out) | (np.abs(out) > MAX_ABS_RATING))
    if len(bad):
        i = bad[0]
        if np.isnan(out[i]):
            problem = "is not a number"
        elif np.isinf(out[i]):
            problem = "is not a finite number"
        else:
            problem = f"is out of range (beyond ±{MAX_ABS_RATING:,.0f})"
        count = f"{len(bad):,} such row(s) in this part of the file"
        raise DataError(f"{line_of(i)}: {what} {_shown(values.iloc[i])} {problem} ({count})")
    return out


def _timestamps(values: pd.Series, line_of) -> np.ndarray:
    """Seconds since 1970: numbers as they are, dates (ISO and the like) converted; anything else is refused."""
    out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    text = np.isnan(out)
    if text.any():
        dates = pd.to_datetime(values[text], errors="coerce", utc=True)
        undated = np.flatnonzero(text)[dates.isna().to_numpy()]
        if len(undated):
            i = undated[0]
            raise DataError(f"{line_of(i)}: timestamp {_shown(values.iloc[i])} is not a number or a date")
        out[text] = dates.astype("int64").to_numpy() / 1e9
    infinite = np.flatnonzero(~np.isfinite(out))
    if len(infinite):
        i = infinite[0]
        raise DataError(f"{line_of(i)}: timestamp {_shown(values.iloc[i])} is not a finite number")
    return out


def read_interactions(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> InteractionFile:
    """Read and validate an interactions CSV/TSV/`::` file; apply the duplicate rule (DUPLICATE_RULE)."""
    path = check_data_path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected an interactions file")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty")
    _check_size(path, max_bytes, _mean_line_bytes(path))
    sniffed = sniff(path)
    pos = _column_positions(sniffed, path.name)
    roles = sorted(pos, key=pos.get)
    parts, row = [], 0
    try:
        reader = _read_table(path, sniffed, [pos[r] for r in roles], chunksize=CHUNK_ROWS)
        for chunk in reader:
            chunk.columns = roles  # usecols keeps file order, which `roles` follows
            line_of = partial(_where, path, sniffed, row)
            part = pd.DataFrame({"user": chunk["user"].str.strip(), "item": chunk["item"].str.strip()})
            if (part["user"] == "").any() or (part["item"] == "").any():
                i = int(np.flatnonzero(((part["user"] == "") | (part["item"] == "")).to_numpy())[0])
                raise DataError(f"{line_of(i)}: the user or item is empty")
            part["rating"] = _numeric(chunk["rating"], "rating", line_of).astype(np.float32)
            part["timestamp"] = _timestamps(chunk["timestamp"], line_of) if "timestamp" in chunk else np.nan
            parts.append(part)
            row += len(chunk)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path.name}: could not be read as a table ({str(exc).splitlines()[0]})") from exc
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["user", "item", "rating"])
    if len(frame) == 0:
        raise DataError(f"{path.name}: no interactions after the header")
    frame, dropped = drop_duplicates(frame)
    counts = frame["user"].value_counts()
    if len(frame) < 10:
        raise DataError(f"{path.name}: only {len(frame)} interactions; at least 10 are needed")
    if len(counts) < 2:
        raise DataError(
            f"{path.name}: only one user; needs at least 2 users, as recommendations come from what other users chose"
        )
    if counts.max() < 2:
        raise DataError(
            f"{path.name}: every user has only one interaction; a user needs at least 2 "
            "(better 5 or more) so that some can be held out for testing"
        )
    if frame["item"].nunique() < 2:
        raise DataError(f"{path.name}: only one item; there is nothing to recommend")
    return InteractionFile(frame, "timestamp" in pos, dropped, path.name)


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the latest row per (user, item) by timestamp; ties and files without timestamps keep the last row."""
    frame = frame.reset_index(drop=True)
    frame["row"] = np.arange(len(frame))
    if frame["timestamp"].notna().any():
        frame = frame.sort_values(["timestamp", "row"], kind="stable")
    kept = frame.drop_duplicates(["user", "item"], keep="last").sort_values("row", kind="stable")
    return kept.reset_index(drop=True), len(frame) - len(kept)


def read_items(path: str | Path) -> pd.DataFrame:
    """An items file -> columns item, title, genres ('|'-joined). MovieLens u.item, movies.dat, movies.csv or
    any `item, title[, genres]` table."""
    path = check_data_path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected an items file")
    sniffed = sniff(path)
    if sniffed.sep == "|" and sniffed.columns >= 6:  # MovieLens 100k u.item: id|title|dates|url|19 genre flags
        table = pd.read_csv(path, sep="|", header=None, dtype=str, encoding="latin-1", keep_default_na=False)
        flags = table.iloc[:, 5:].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() > 0
        names = ML100K_GENRES if flags.shape[1] == len(ML100K_GENRES) else [f"genre {i}" for i in range(flags.shape[1])]
        genres = ["|".join(n for n, f in zip(names, row) if f) for row in flags]
        return pd.DataFrame({"item": table[0].str.strip(), "title": table[1], "genres": genres})
    first = [h.lower().replace(" ", "") for h in sniffed.first]
    if sniffed.header is None and set(first) & (ALIASES["item"] | ITEM_HEADER_NAMES):
        sniffed.header = sniffed.first
    header = first if sniffed.header else []
    item_col = next((i for i, h in enumerate(header) if h in ALIASES["item"] | {"id"}), 0)
    title_col = next((i for i, h in enumerate(header) if h in {"title", "name"}), 1 if item_col != 1 else 0)
    genre_col = next((i for i, h in enumerate(header) if h in {"genres", "genre", "category", "categories"}), None)
    if genre_col is None and not header and sniffed.columns >= 3:
        genre_col = 2
    cols = sorted({item_col, title_col} | ({genre_col} if genre_col is not None else set()))
    if sniffed.columns < 2:
        raise DataError(f"{path.name}: an items file needs at least item and title columns")
    try:
        table = _read_table(path, sniffed, cols)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path.name}: could not be read as an items table ({str(exc).splitlines()[0]})") from exc
    table.columns = cols
    genres = table[genre_col].str.replace(r"\s*[,;]\s*", "|", regex=True) if genre_col is not None else ""
    out = pd.DataFrame({"item": table[item_col].str.strip(), "title": table[title_col], "genres": genres})
    out["genres"] = out["genres"].replace("(no genres listed)", "")
    return out.drop_duplicates("item", keep="last")


def find_files(path: str | Path) -> tuple[Path, Path | None]:
    """(interactions file, items file or None) for a file, or a folder holding MovieLens-style files."""
    path = check_data_path(path)
    if path.is_file():
        ratings, folder = path, path.parent
    else:
        folder = path
        named = [folder / n for n in RATINGS_FILES if (folder / n).is_file()]
        tables = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".csv", ".tsv", ".dat", ".data", ".txt"})
        candidates = named or [p for p in tables if p.name.lower() not in ITEMS_FILES]
        if not candidates:
            raise DataError(f"{path.name}: no interactions file (.csv, .tsv, .dat) in this folder")
        ratings = candidates[0]
    items = next((folder / n for n in ITEMS_FILES if (folder / n).is_file() and folder / n != ratings), None)
    read = [ratings, items] if path.is_dir() else [items]  # a file named itself was checked where it was named
    check_inside(folder, [f for f in read if f is not None])
    return ratings, items


def split_per_user(users: np.ndarray, seed: int, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """Each user's interactions in random order, cut 80/10/10: 0 = train, 1 = validation, 2 = test.

    The counts follow RecBole's `split_by_ratio`: floor(ratio * n) for validation and test, the rest to
    training; a user with too few for a 10% share still gives one to test, then one to validation, as long
    as more than one stays in training. A user with a single interaction keeps it in training.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(users))
    order = order[np.argsort(users[order], kind="stable")]  # grouped by user, random within each user
    counts = np.bincount(users, minlength=int(users.max()) + 1)
    val = np.floor(ratios[1] * counts + 1e-9).astype(np.int64)
    test = np.floor(ratios[2] * counts + 1e-9).astype(np.int64)
    train = counts - val - test
    for share, part in ((ratios[2], test), (ratios[1], val)):
        add = (share * counts > 0) & (share * counts < 1) & (train > 1)
        part += add
        train -= add
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_users = users[order]
    rank = np.arange(len(users)) - starts[sorted_users]
    split = np.where(rank < train[sorted_users], 0, np.where(rank < (train + val)[sorted_users], 1, 2))
    out = np.empty(len(users), dtype=np.int8)
    out[order] = split
    return out


def split_leave_last_out(users: np.ndarray) -> np.ndarray:
    """RecBole's time-ordered leave-one-out on interactions already in time order: each user's last interaction
    is the test (2), the one before validation (1), the rest training (0).

    A user with two interactions gives the last to test and keeps the first for training; one with a single
    interaction keeps it in training.
    """
    order = np.argsort(users, kind="stable")  # grouped by user, in time order within each user
    counts = np.bincount(users, minlength=int(users.max()) + 1)
    ends = np.cumsum(counts)
    from_end = ends[users[order]] - 1 - np.arange(len(users))  # 0 = the user's last interaction
    n = counts[users[order]]
    split = np.where((from_end == 0) & (n >= 2), 2, np.where((from_end == 1) & (n >= 3), 1, 0))
    out = np.empty(len(users), dtype=np.int8)
    out[order] = split
    return out


def clean_title(title: str) -> str:
    """A MovieLens title with its article moved to the front.

    'Toy Story (1995)' stays; 'Shawshank Redemption, The (1994)' becomes 'The Shawshank Redemption (1994)'.
    """
    m = re.match(r"^(.*), (The|A|An|Les|La|Le|Il|Das|Der|Die|El)( \(\d{4}\))?$", title.strip())
    return f"{m.group(2)} {m.group(1)}{m.group(3) or ''}" if m else title.strip()

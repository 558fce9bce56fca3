"""Safe extraction of user-supplied .zip archives: path checks, no links, size and count limits."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from core.data import DataError

MAX_BYTES = 1_000_000_000  # 1 GB unpacked
MAX_FILES = 100_000
CHUNK = 1 << 20


def extract_zip(archive: str | Path, dest: str | Path, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES) -> Path:
    """Extract `archive` into `dest`, refusing members that escape it, links, and bombs.

    Sizes are counted while decompressing, not taken from the (forgeable) header.
    """
    archive, dest = Path(archive), Path(dest)
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{name}: not a readable .zip archive ({exc})") from exc
    with zf:
        members = zf.infolist()
        if len(members) > max_files:
            raise DataError(f"{name}: holds {len(members)} entries, more than the limit of {max_files}")
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written = 0
        for info in members:
            path = PurePosixPath(info.filename.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
                raise DataError(f"{name}: entry {info.filename!r} points outside the archive's folder")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError(f"{name}: entry {info.filename!r} is a symbolic link, which is not allowed")
            target = (root / path).resolve()
            if not target.is_relative_to(root):
                raise DataError(f"{name}: entry {info.filename!r} points outside the archive's folder")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise DataError(f"{name}: unpacks to more than {max_bytes / 1e6:.0f} MB, the size limit")
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DataError(f"{name}: entry {info.filename!r} is corrupt ({exc})") from exc
    return dest

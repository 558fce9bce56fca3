"""Safe extraction of user-supplied .zip archives: path checks, no links, streamed size and ratio limits, a cache.

Each member is decompressed in chunks of at most CHUNK bytes by our own loop (zipfile's reader hands back a
bzip2 or LZMA block whole, which a few hundred bytes can make gigabytes of), with a running byte budget, a
compression-ratio limit and the member's declared size and CRC checked as it goes. An archive is extracted once
per content into user_data/extracted/; a refused one leaves nothing behind, and the least recently used
extractions are removed to keep the total under a cap.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import re
import shutil
import stat
import struct
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from core.data import DataError, env_limit
from core.data.roots import user_data_dir

MAX_MB = 1000.0  # unpacked per archive; DLSTUDIO_ZIP_MAX_MB
MAX_RATIO = 100.0  # unpacked / packed bytes of a member; DLSTUDIO_ZIP_MAX_RATIO
RATIO_FLOOR = 1 << 20  # members that unpack to less may compress as well as they like
MAX_FILES = 100_000
NAME_MAX = 255  # bytes in one file or folder name (Linux, macOS, Windows): a longer one cannot be made
MAX_DEPTH = 32  # folders in an entry's path: class folders are two or three deep
CACHE_GB = 2.0  # all extractions together; DLSTUDIO_EXTRACT_CACHE_GB
CHUNK = 1 << 20  # most bytes one decompression step may produce
READ = 1 << 16  # compressed bytes read at a time
STALE_SECONDS = 3600  # a half-done extraction this old belongs to a process that died


def limits() -> tuple[int, float, int]:
    """(unpacked bytes per archive, ratio per member, bytes of all extractions), environment applied."""
    cache = int(env_limit("DLSTUDIO_EXTRACT_CACHE_GB", CACHE_GB) * 1e9)
    unpacked = min(int(env_limit("DLSTUDIO_ZIP_MAX_MB", MAX_MB) * 1e6), cache)
    return unpacked, env_limit("DLSTUDIO_ZIP_MAX_RATIO", MAX_RATIO), cache


def extract_zip(
    archive: str | Path,
    dest: str | Path,
    max_bytes: int | None = None,
    max_files: int = MAX_FILES,
    max_ratio: float | None = None,
) -> Path:
    """Extract `archive` into `dest`, refusing members that escape it, links, clashes and bombs.

    Sizes are counted while decompressing, not taken from the (forgeable) header.
    """
    archive, dest = Path(archive), Path(dest)
    default_bytes, default_ratio, _ = limits()
    max_bytes, max_ratio = max_bytes or default_bytes, max_ratio or default_ratio
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{name}: not a readable .zip archive ({exc})") from exc
    with zf, open(archive, "rb") as raw:
        members = _plan(name, zf.infolist(), max_files)
        _check_declared(name, [info for info, _ in members], max_bytes, max_ratio)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        budget = _Budget(name, max_bytes, max_ratio, archive.stat().st_size)
        for info, path in members:
            target = root / path
            try:
                if not target.resolve().is_relative_to(root):
                    raise DataError(f"{name}: entry {info.filename!r} points outside the archive's folder")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_member(raw, info, target, budget)
            except OSError as exc:  # the message, not the exception: it would show this server's path
                raise DataError(f"{name}: entry {_short(info.filename)} cannot be unpacked ({exc.strerror})") from None
    return dest


def _short(entry: str, keep: int = 60) -> str:
    """An entry's name for a message: a 3,000-level path is not one to print whole."""
    return repr(entry if len(entry) <= keep else f"{entry[: keep // 2]}…{entry[-keep // 2 :]}")


def _plan(name: str, members: list[zipfile.ZipInfo], max_files: int) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Each member with its relative path, after refusing escapes, links, encryption and file/folder clashes."""
    if len(members) > max_files:
        raise DataError(f"{name}: holds {len(members)} entries, more than the limit of {max_files}")
    planned, files, folders = [], set(), set()
    for info in members:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if not path.parts and info.is_dir():  # "./": nothing to make
            continue
        if path.is_absolute() or ".." in path.parts or not path.parts or ":" in path.parts[0]:
            raise DataError(f"{name}: entry {_short(info.filename)} points outside the archive's folder")
        longest = max(len(part.encode()) for part in path.parts)
        if longest > NAME_MAX:
            raise DataError(f"{name}: entry {_short(info.filename)} has a name of {longest} bytes, over the {NAME_MAX} "
                            "a file or folder name may have")  # fmt: skip
        if len(path.parts) > MAX_DEPTH:
            raise DataError(f"{name}: entry {_short(info.filename)} is {len(path.parts)} levels deep, over the limit "
                            f"of {MAX_DEPTH}")  # fmt: skip
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(f"{name}: entry {info.filename!r} is a symbolic link, which is not allowed")
        if info.flag_bits & 0x1:
            raise DataError(f"{name}: entry {info.filename!r} is encrypted; give an archive without a password")
        key = path.as_posix()
        if key in files:
            raise DataError(f"{name}: entry {key!r} appears twice")
        (folders if info.is_dir() else files).add(key)
        folders.update(p.as_posix() for p in path.parents if p.parts)
        planned.append((info, path))
    clash = sorted(files & folders)
    if clash:
        raise DataError(f"{name}: {clash[0]!r} is both a file and a folder in this archive")
    return planned


def _check_declared(name: str, members: list[zipfile.ZipInfo], max_bytes: int, max_ratio: float) -> None:
    """Refuse before unpacking a byte when the headers already say too big (they may lie low, never high)."""
    declared = sum(info.file_size for info in members)
    if declared > max_bytes:
        raise DataError(
            f"{name}: unpacks to more than {max_bytes / 1e6:,.0f} MB, the size limit "
            f"(its entries add up to {declared / 1e6:,.0f} MB)"
        )
    for info in members:
        if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            raise DataError(_ratio_message(name, info, max_ratio))


def _ratio_message(name: str, info: zipfile.ZipInfo, max_ratio: float) -> str:
    return (
        f"{name}: entry {info.filename!r} is compressed more than {max_ratio:.0f} to 1, the limit "
        "(a compression bomb, or data that is nearly all the same byte)"
    )


@dataclass
class _Budget:
    """What one archive may still unpack, shared by its members."""

    name: str
    max_bytes: int
    max_ratio: float
    packed: int  # the archive's own size: no member holds more compressed bytes than that
    written: int = 0


def _write_member(raw: BinaryIO, info: zipfile.ZipInfo, target: Path, budget: _Budget) -> None:
    """Stream one member into `target`, checking the archive's budget, the ratio and the header as it goes."""
    name, count, crc = budget.name, 0, 0
    ratio_cap = budget.max_ratio * max(min(info.compress_size, budget.packed), 1)
    with open(target, "wb") as out:
        for chunk in _member_chunks(raw, info, name, budget.packed):
            count += len(chunk)
            if budget.written + count > budget.max_bytes:
                raise DataError(f"{name}: unpacks to more than {budget.max_bytes / 1e6:,.0f} MB, the size limit")
            if count > RATIO_FLOOR and count > ratio_cap:
                raise DataError(_ratio_message(name, info, budget.max_ratio))
            if count > info.file_size:
                raise DataError(f"{name}: entry {info.filename!r} unpacks to more than its header says (corrupt)")
            crc = zlib.crc32(chunk, crc)
            out.write(chunk)
    if count != info.file_size or crc != info.CRC:
        raise DataError(f"{name}: entry {info.filename!r} is corrupt (its size or checksum does not match)")
    budget.written += count


class _Inflate:
    """Raw deflate with the `needs_input` / `eof` interface of bz2 and lzma decompressors."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._z.eof

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._z.decompress(self._z.unconsumed_tail + data, max_length)
        self.needs_input = not self._z.unconsumed_tail and len(out) < max_length
        return out


def _member_chunks(raw: BinaryIO, info: zipfile.ZipInfo, name: str, packed: int) -> Iterator[bytes]:
    """The member's unpacked bytes, at most CHUNK at a time however well they compress."""
    corrupt = DataError(f"{name}: entry {info.filename!r} is corrupt or cut short")
    raw.seek(info.header_offset)
    header = raw.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise corrupt
    name_len, extra_len = struct.unpack("<2H", header[26:30])
    raw.seek(info.header_offset + 30 + name_len + extra_len)
    left = min(info.compress_size, packed)
    dec, used = _decompressor(raw, info, name)
    left -= used
    while True:
        data = b""
        if dec is None or dec.needs_input:
            data = raw.read(min(READ, max(left, 0)))
            left -= len(data)
            if not data and dec is None:
                return
            if not data:
                raise corrupt
        try:
            out = data if dec is None else dec.decompress(data, CHUNK)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise DataError(f"{name}: entry {info.filename!r} is corrupt ({exc})") from exc
        if out:
            yield out
        if dec is not None and dec.eof:
            return


def _decompressor(raw: BinaryIO, info: zipfile.ZipInfo, name: str):
    """(a decompressor or None for stored data, compressed bytes its set-up read)."""
    method = info.compress_type
    if method == zipfile.ZIP_STORED:
        return None, 0
    if method == zipfile.ZIP_DEFLATED:
        return _Inflate(), 0
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor(), 0
    if method == zipfile.ZIP_LZMA:  # 2 bytes version, 2 bytes properties size, then the LZMA1 properties
        head = raw.read(4)
        size = struct.unpack("<H", head[2:4])[0] if len(head) == 4 else 0
        try:
            props = lzma._decode_filter_properties(lzma.FILTER_LZMA1, raw.read(size))  # what zipfile itself uses
        except (lzma.LZMAError, ValueError) as exc:
            raise DataError(f"{name}: entry {info.filename!r} is corrupt ({exc})") from exc
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[props]), 4 + size
    raise DataError(f"{name}: entry {info.filename!r} uses a compression method (#{method}) that is not supported")


# ---------------------------------------------------------------- the extraction cache


def extraction_cache() -> Path:
    return user_data_dir() / "extracted"


def cached_extraction(archive: str | Path, cache: str | Path | None = None) -> Path:
    """`archive` unpacked into <cache>/<content hash>-<name>/<name>/, once; later calls reuse it.

    The archive is unpacked into a hidden staging folder and renamed into place only when complete, so a
    refused or interrupted extraction leaves nothing that could be reused. The least recently used
    extractions are then removed until all of them together fit the cache cap.
    """
    archive = Path(archive)
    cache = Path(cache or extraction_cache())
    stem = re.sub(r"[^\w.-]", "_", archive.stem)[:60] or "archive"
    final = cache / f"{_sha256(archive)[:24]}-{stem}"
    if not final.is_dir():
        max_bytes, _, cap = limits()
        stage = cache / f".partial-{uuid.uuid4().hex}"
        try:
            extract_zip(archive, stage / (archive.stem.lstrip(".") or "archive"), max_bytes=max_bytes)
            (stage / ".bytes").write_text(str(_folder_bytes(stage)))
            os.rename(stage, final)
        except OSError:
            if not final.is_dir():  # not a race lost to another process extracting the same archive
                raise
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        _evict(cache, final, cap)
    os.utime(final)  # most recently used
    return next(p for p in final.iterdir() if not p.name.startswith("."))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _evict(cache: Path, keep: Path, cap: int) -> None:
    """Remove the least recently used extractions (never `keep`) until the rest fit `cap` bytes."""
    now, entries = time.time(), []
    for entry in cache.iterdir():
        if entry.name.startswith(".partial-"):
            if now - entry.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
            continue
        if entry.is_dir():
            try:
                size = int((entry / ".bytes").read_text())
            except (OSError, ValueError):
                size = _folder_bytes(entry)
            entries.append((entry.stat().st_mtime, size, entry))
    total = sum(size for _, size, _ in entries)
    for _, size, entry in sorted(entries):
        if total <= cap:
            break
        if entry != keep:
            shutil.rmtree(entry, ignore_errors=True)
            total -= size

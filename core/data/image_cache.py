"""A folder's images decoded once: (N, C, size, size) uint8 kept on disk under the folder's content stamp.

Decoding 50,000 PNGs takes tens of seconds; reading them back as one array takes well under one. The stamp covers
every file's path, byte size and modification time, the decode size and the pixel limits, so adding, removing,
replacing or editing an image (or changing a limit) decodes the folder afresh. Pixels are kept as uint8: every
decoded value is k/255, so the float32 tensors made from them are bit for bit those decoding makes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.data import env_limit, save_cached_array
from core.data.images import decode_images, pixel_limits
from core.data.roots import user_data_dir

VERSION = "1"  # bump when decoding changes what it makes of a file
CACHE_MB = 4096  # all cached folders together; DLSTUDIO_DECODED_CACHE_MB (least recently used go first)


def cache_dir() -> Path:
    return user_data_dir() / "decoded"


def content_stamp(files: list[Path], size: int) -> str:
    """Changes when any image is added, removed, replaced or edited, or the decode size or pixel limits change."""
    digest = hashlib.sha256(f"v{VERSION} {size} {pixel_limits()}\n".encode())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def decoded_pixels(
    files: list[Path], names: list[str], size: int, dataset: str, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Every file decoded to (N, C, size, size) uint8 (decode_images' values times 255): from the cache when the
    folder is unchanged, else decoded (progress(done, total) hears how far) and cached for the next load."""
    path = cache_dir() / f"{content_stamp(files, size)}.npy"
    try:
        pixels = np.load(path, allow_pickle=False)
        if pixels.dtype == np.uint8 and pixels.ndim == 4 and len(pixels) == len(files):
            os.utime(path)  # most recently used
            if progress is not None:
                progress(len(files), len(files))
            return pixels
    except (OSError, ValueError, EOFError):  # none yet, or a damaged one: decode afresh
        pass
    pixels, _ = decode_images(files, names, size, dataset, progress, dtype=np.uint8)
    _save(path, pixels)
    return pixels


def _save(path: Path, pixels: np.ndarray) -> None:
    save_cached_array(path, pixels, env_limit("DLSTUDIO_DECODED_CACHE_MB", CACHE_MB) * 1e6)

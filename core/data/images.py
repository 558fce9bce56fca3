"""Image decoding for user data and uploads, and the bundled `shapes` generator."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from core.data import DataError

Image.MAX_IMAGE_PIXELS = 60_000_000  # refuse decompression bombs with a clear error


def to_array(img: Image.Image, channels: int, size: int) -> np.ndarray:
    """Any Pillow image (RGBA, palette, 16-bit, CMYK...) -> float32 (channels, size, size) in [0, 1]."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / hi * 255, 0, 255).astype(np.uint8), "L")
    if img.mode in ("P", "PA", "LA", "RGBA") or "transparency" in img.info:
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    img = img.convert("L" if channels == 1 else "RGB")
    img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def open_image(source: str | Path | bytes, name: str | None = None) -> Image.Image:
    """Decode an image fully, turning Pillow's many failure modes into one DataError naming the file."""
    name = name or (Path(source).name if not isinstance(source, bytes) else "upload")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name}: image is too large ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from exc
    if img.width < 1 or img.height < 1:
        raise DataError(f"{name}: image has no pixels")
    return img


def guess_channels(images: list[Image.Image]) -> int:
    """Grayscale when every image is, else RGB."""
    gray = all(im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F") for im in images)
    return 1 if gray else 3


SHAPES = ("circle", "square", "triangle", "star", "hexagon", "cross")


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        pts = [(math.cos(a), math.sin(a)) for a in np.arange(4) * math.pi / 2 + math.pi / 4]
    elif kind == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in np.arange(3) * 2 * math.pi / 3 - math.pi / 2]
    elif kind == "hexagon":
        pts = [(math.cos(a), math.sin(a)) for a in np.arange(6) * math.pi / 3]
    elif kind == "star":
        pts = [
            ((1.0 if i % 2 == 0 else 0.42) * math.cos(a), (1.0 if i % 2 == 0 else 0.42) * math.sin(a))
            for i, a in enumerate(np.arange(10) * math.pi / 5 - math.pi / 2)
        ]
    elif kind == "cross":
        t = 0.33
        pts = [
            (-t, -1),
            (t, -1),
            (t, -t),
            (1, -t),
            (1, t),
            (t, t),
            (t, 1),
            (-t, 1),
            (-t, t),
            (-1, t),
            (-1, -t),
            (-t, -t),
        ]
    else:
        raise ValueError(kind)
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in pts]


def draw_shape(kind: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One RGB image (size, size, 3) uint8 of `kind` with random colour, scale, rotation, place and noise."""
    scale = 4  # draw large, then downsample: anti-aliased edges
    big = size * scale
    bg = rng.integers(0, 256, 3)
    fg = rng.integers(0, 256, 3)
    while np.abs(fg.astype(int) - bg.astype(int)).sum() < 200:  # keep the shape visible
        fg = rng.integers(0, 256, 3)
    img = Image.new("RGB", (big, big), tuple(int(v) for v in bg))
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.42) * big
    cx, cy = rng.uniform(r, big - r, 2)
    color = tuple(int(v) for v in fg)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    else:
        draw.polygon(_polygon(kind, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=color)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2))).resize((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, rng.uniform(2, 18), (size, size, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def make_shapes(per_class: int = 300, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The `shapes` dataset: (N, 3, size, size) float32 in [0, 1] and labels into SHAPES."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, kind in enumerate(SHAPES):
        for _ in range(per_class):
            images.append(draw_shape(kind, rng, size))
            labels.append(label)
    x = np.stack(images).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return x, np.array(labels)

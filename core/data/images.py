"""Image decoding for user data and uploads (pixel caps, downscaling on decode), and the bundled `shapes` generator."""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from core.data import DataError, env_limit
from core.tasks.specs.image import SHAPES  # the spec names the classes; make_shapes draws them

MAX_IMAGE_PIXELS = 60_000_000  # one image, by its header; DLSTUDIO_MAX_IMAGE_PIXELS
MAX_DATASET_PIXELS = 2_000_000_000  # every image of a dataset, as decoded; DLSTUDIO_MAX_DATASET_PIXELS
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow's own bomb check, for any other caller


def pixel_limits() -> tuple[int, int]:
    """(pixels one image may have, decoded pixels a dataset may have), environment applied."""
    per_image = int(env_limit("DLSTUDIO_MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS))
    return per_image, int(env_limit("DLSTUDIO_MAX_DATASET_PIXELS", MAX_DATASET_PIXELS))


def to_array(img: Image.Image, channels: int, size: int) -> np.ndarray:
    """Any Pillow image (RGBA, palette, 16-bit, CMYK...) -> float32 (channels, size, size) in [0, 1]."""
    img = reduce_for(img, size)
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


def reduce_for(img: Image.Image, size: int) -> Image.Image:
    """Shrink by a whole factor (box average) to no less than twice `size` a side, before any full-size copy."""
    factor = min(img.size) // (2 * size)
    if factor < 2 or img.mode.startswith("I;16"):  # 16-bit: reduce() takes no such mode; rare and capped
        return img
    if img.mode in ("P", "PA", "1"):  # palette indices and single bits cannot be averaged
        img = img.convert("L" if img.mode == "1" else "RGBA")
    return img.reduce(factor)


def open_image(source: str | Path | bytes, name: str | None = None, size: int | None = None) -> Image.Image:
    """Decode an image, turning Pillow's many failure modes into one DataError naming the file.

    The header is checked against the pixel cap before a pixel is decoded. With `size` (the side it will be
    used at), a JPEG decodes at 1/2 to 1/8 scale (`draft`) and any image is reduced to about twice `size`.
    """
    name = name or (Path(source).name if not isinstance(source, bytes) else "upload")
    img = _open_header(source, name, pixel_limits()[0])
    if size:
        img.draft(None, (2 * size, 2 * size))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from exc
    if not size:
        return img
    small = reduce_for(img, size)
    if small is not img:
        img.close()  # the full-size pixels go now, not whenever the collector gets to them
    return small


def _open_header(source: str | Path | bytes, name: str, max_pixels: int) -> Image.Image:
    """The image with only its header read; refused when that header says more than `max_pixels`."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below, with our message
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError as exc:  # over twice the limit: Pillow refuses first, saying how many
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise DataError(_too_many_pixels(name, int(found.group(1)) if found else None, max_pixels)) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from exc
    width, height = img.size
    if width < 1 or height < 1:
        raise DataError(f"{name}: image has no pixels")
    if width * height > max_pixels:
        img.close()
        raise DataError(_too_many_pixels(name, width * height, max_pixels))
    return img


def _too_many_pixels(name: str, pixels: int | None, max_pixels: int) -> str:
    size = f"has {pixels / 1e6:,.0f} million pixels" if pixels else "is larger"
    limit = f"the limit of {max_pixels / 1e6:,.0f} million per image (DLSTUDIO_MAX_IMAGE_PIXELS)"
    return f"{name}: the image {size}, over {limit}"


def decode_images(
    files: list[Path],
    names: list[str],
    size: int,
    dataset: str,
    progress: Callable[[int, int], None] | None = None,
    dtype: type = np.float32,
) -> tuple[np.ndarray, int]:
    """(N, C, size, size) float32 in [0, 1] and C; one image at a time, never holding two at full size. With
    `dtype=np.uint8` the same values times 255 (each is k/255), without a float32 copy of the whole set (at 224x224,
    4 bytes a value: 1.2 GB for 2,000 colour photos).

    Every header is read first: each image must fit the per-image cap and all of them, at the size they
    decode at (JPEGs at a reduced scale) and at least `size` x `size` each (what the output holds), the dataset
    cap, before anything is decoded. `progress(done, total)`
    hears how far it got (headers then images: total = 2N), about every 1%.
    """
    per_image, dataset_cap = pixel_limits()
    modes, total = [], 0
    steps, every = 2 * len(files), max(1, len(files) // 50)
    for i, (file, name) in enumerate(zip(files, names)):
        with _open_header(file, name, per_image) as img:
            img.draft(None, (2 * size, 2 * size))
            modes.append(img.mode)
            total += max(img.width * img.height, size * size)  # a small photo decoded at 224 still costs 224^2
        if progress is not None and i % every == 0:
            progress(i + 1, steps)
    if total > dataset_cap:
        raise DataError(
            f"{dataset}: its {len(files):,} images decode to {total / 1e6:,.0f} million pixels, over the limit of "
            f"{dataset_cap / 1e6:,.0f} million per dataset (DLSTUDIO_MAX_DATASET_PIXELS); use fewer or smaller images"
        )
    channels = guess_channels(modes)
    out = np.empty((len(files), channels, size, size), dtype)
    for i, (file, name) in enumerate(zip(files, names)):
        with open_image(file, name, size) as img:
            values = to_array(img, channels, size)
            out[i] = values if dtype == np.float32 else np.rint(values * 255)
        if progress is not None and (i % every == 0 or i == len(files) - 1):
            progress(len(files) + i + 1, steps)
    return out, channels


def guess_channels(modes: list[str]) -> int:
    """Grayscale when every image is (by its mode), else RGB."""
    return 1 if all(mode in GRAY_MODES for mode in modes) else 3


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

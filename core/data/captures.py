"""Camera snapshots as an image dataset: each shot squared (or face-cropped), kept as <dataset>/<class>/shot_N.png."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from core.data.audio import safe_name
from core.data.folders import files_per_class, next_number
from core.data.images import open_image
from core.tasks.image_faces import CROP_SIDE, FaceCrop, centre_square, crop_face

INFO_FILE = "capture.json"  # beside the class folders: how the shots were taken (the loader reads folders only)
MIN_SHOTS = 10  # what the image loader needs to split a dataset


def png_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def take_snapshot(raw: bytes, name: str, face_mode: bool) -> tuple[Image.Image, FaceCrop | None]:
    """A camera snapshot (any image bytes) -> the square RGB picture that is kept, and the face crop in face mode.

    Face mode crops the surest face (a centre square when none is found: the crop says which); otherwise the
    centre square is kept. Either way the result is CROP_SIDE a side.
    """
    img = open_image(raw, name, size=4 * CROP_SIDE)  # decoded near a size where faces are still found
    if not face_mode:
        return centre_square(img), None
    crop = crop_face(img)
    return crop.image, crop


def save_captures(root: str | Path, dataset: str, shots: Mapping[str, Sequence[bytes]], face_mode: bool) -> Path:
    """Write kept shots (PNG bytes per class) as `root/<dataset>/<class>/shot_N.png`, after any saved before.

    Returns the dataset folder, a folder of class folders like an unpacked .zip, with `capture.json` noting
    whether faces were cropped (so predictions crop the same way).
    """
    folder = Path(root) / safe_name(dataset, "dataset")
    for class_name, images in shots.items():
        class_dir = folder / safe_name(class_name, "class")
        class_dir.mkdir(parents=True, exist_ok=True)
        for n, raw in enumerate(images, start=next_number(class_dir, "shot_", ".png")):
            (class_dir / f"shot_{n}.png").write_bytes(raw)
    if folder.is_dir():
        (folder / INFO_FILE).write_text(json.dumps({"face_mode": bool(face_mode), "side": CROP_SIDE}))
    return folder


def capture_counts(root: str | Path, dataset: str) -> dict[str, int]:
    """Shots saved so far per class of a captured dataset."""
    return files_per_class(Path(root) / dataset, "*.png")


def capture_info(path: str | Path | None) -> dict:
    """What `capture.json` of a dataset folder says; {} for any other data (or a note that cannot be read)."""
    if not path:
        return {}
    note = Path(path) / INFO_FILE
    try:
        info = json.loads(note.read_text()) if note.is_file() and note.stat().st_size < 10_000 else {}
    except (OSError, ValueError):  # only a hint for predictions: without it, face mode starts off
        return {}
    return info if isinstance(info, dict) else {}

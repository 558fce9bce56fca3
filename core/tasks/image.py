"""Image recognition: bundled datasets (digits, faces, shapes), your own folders, augmentation, evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from core.data import DataError
from core.data.folders import coverage_note, index_folder, open_data_path, split_index, stratified_split
from core.data.image_cache import decoded_pixels
from core.data.images import SHAPES, make_shapes, to_array
from core.models import get_model, get_spec
from core.run.settings import RunConfig
from core.run.training import TensorClassification
from core.tasks.classification import ClassificationTask
from core.tasks.specs.image import SPEC

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".ico"}
USER_IMAGE_SIZE = 32  # the side a folder is decoded at for a model without pretrained weights' own size


@dataclass
class ImageData:
    """Tensors of each split, (N, C, H, W) floats in [0, 1], and what the model must know (`meta`)."""

    name: str
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    class_names: list[str]
    split_note: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c, h, _ = self.x["train"].shape[1:]
        self.meta = {"channels": int(c), "size": int(h), "class_names": self.class_names, "dataset": self.name}


def digits_set(name: str, seed: int = 0) -> ImageData:
    """scikit-learn's 8x8 handwritten digits, scaled to [0, 1]."""
    d = load_digits()
    return _split_set(name, (d.images[:, None] / 16.0).astype(np.float32), d.target, [str(i) for i in range(10)], seed)


def faces_set(name: str, seed: int = 0) -> ImageData:
    """scikit-image's LFW subset: 100 faces, then 100 other patches."""
    from skimage.data import lfw_subset  # shipped inside scikit-image: no download

    x = lfw_subset().astype(np.float32)[:, None]
    return _split_set(name, x, np.array([0] * 100 + [1] * 100), ["face", "not a face"], seed)


def shapes_set(name: str, seed: int = 0) -> ImageData:
    """The generated colour shapes (core.data.images.make_shapes)."""
    x, y = make_shapes()
    return _split_set(name, x, y, list(SHAPES), seed)


def _split_set(name: str, x: np.ndarray, y: np.ndarray, classes: list[str], seed: int) -> ImageData:
    """A bundled set's arrays, split 70/10/20 stratified by `seed`."""
    parts = stratified_split(y, seed)
    xs = {k: torch.from_numpy(x[v]) for k, v in parts.items()}
    ys = {k: torch.from_numpy(y[v]).long() for k, v in parts.items()}
    return ImageData(name, xs, ys, classes, "seeded stratified split 70/10/20 (train/validation/test)")


def load_folder(
    path: str | Path, seed: int = 0, size: int = USER_IMAGE_SIZE, progress: Callable[[int, int], None] | None = None
) -> ImageData:
    """A folder of class subfolders, decoded (or read back from the decoded-image cache: core/data/image_cache.py).

    `progress(done, total)` hears how far decoding got. Memory: the folder at uint8 and, split by split, at float32
    (5 bytes a pixel value: about 0.8 GB for 50,000 colour images at 32x32, 1.5 GB for 2,000 at 224x224).
    """
    root = open_data_path(path)
    index = index_folder(root, IMAGE_EXTENSIONS)
    if not index.given_split and len(index.labels["all"]) < 10:
        raise DataError(f"{root.name}: only {len(index.labels['all'])} images; at least 10 are needed to split")
    names = [f"{f.parent.name}/{f.name}" for f in index.all_files]
    pixels = decoded_pixels(index.all_files, names, size, root.name, progress)
    labels = index.all_labels
    parts, note = split_index(index, seed)
    note += coverage_note(parts, labels, index.class_names)
    x = {s: torch.from_numpy(pixels[i]).float().div_(255.0) for s, i in parts.items()}
    y = {s: torch.from_numpy(labels[i]).long() for s, i in parts.items()}
    return ImageData(root.name, x, y, index.class_names, note)


def decode_size(config: RunConfig) -> int:
    """The side a folder's images are decoded at: the input size of the pretrained weights the run starts from (their
    transforms' crop, 224 for ImageNet: a fact of the model's spec), else USER_IMAGE_SIZE. Decoding a photo straight
    to 224 keeps the detail the backbone was trained on; decoding to 32 and resizing it up would throw it away."""
    spec = get_spec("image", config.model) if config.model else None
    return (spec.input_size(config.pretrained) if spec else None) or USER_IMAGE_SIZE


def load_bundled(name: str, seed: int = 0) -> ImageData:
    """A bundled set, loaded as its spec says."""
    return SPEC.bundled(name).load(seed=seed)


def make_augment(shift: float = 0.0, rotate: float = 0.0, flip: bool = False):
    """Per-sample random affine (shift as a fraction of the size, rotation in degrees) and flips.

    Works on whole batches with affine_grid/grid_sample: one call per batch, not per image.
    """
    if not (shift or rotate or flip):
        return None

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(rotate)
        t = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift * 2  # grid spans [-1, 1]
        sx = torch.ones(n)
        if flip:
            sx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([torch.stack([cos * sx, -sin, t[:, 0]], 1), torch.stack([sin * sx, cos, t[:, 1]], 1)], 1)
        grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        return nn.functional.grid_sample(x, grid.to(x.dtype), padding_mode="border", align_corners=False)

    return augment


def prepare_image(img, meta: dict[str, Any], invert: bool = False) -> torch.Tensor:
    """A decoded Pillow image -> a (1, C, H, W) input exactly as the model saw in training."""
    x = torch.from_numpy(to_array(img, meta["channels"], meta["size"]))
    return (1 - x if invert else x)[None]


def prepare_drawing(rgba: np.ndarray, meta: dict[str, Any]) -> torch.Tensor | None:
    """Ink drawn on a canvas (H, W, 4) -> centred, cropped, resized like the digits (bright ink on dark)."""
    ink = rgba[..., :3].astype(np.float32).mean(-1) / 255.0  # white ink on a black canvas
    if rgba.shape[-1] == 4:
        ink = ink * (rgba[..., 3] / 255.0)  # a transparent background is no ink
    rows, cols = np.flatnonzero(ink.max(1) > 0.1), np.flatnonzero(ink.max(0) > 0.1)
    if len(rows) == 0:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = int(max(crop.shape) * 1.25) + 1  # digits keep a margin around the stroke
    square = np.zeros((side, side), np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    x = torch.from_numpy(square)[None, None]
    x = nn.functional.interpolate(x, size=(meta["size"], meta["size"]), mode="area")
    x = x / x.max().clamp_min(1e-6)
    return x.expand(-1, meta["channels"], -1, -1).contiguous()


class ImageTask(ClassificationTask):
    name = "image"
    spec = SPEC

    def load_data(
        self, config: RunConfig, progress: Callable[[int, int], None] | None = None, image_size: int | None = None
    ) -> ImageData:
        """`image_size`: a folder's decode size, given by a page that worked it out from the config (data_settings)."""
        if config.data:
            return load_folder(config.data, config.split_seed, image_size or decode_size(config), progress)
        return load_bundled(config.dataset or SPEC.dataset_names[0], config.split_seed)

    def data_settings(self, config: RunConfig) -> dict[str, Any]:
        """A folder's decode size (the bundled sets have their own sizes)."""
        return {"image_size": decode_size(config)} if config.data else {}

    def new_model(self, config: RunConfig, meta: dict[str, Any]) -> nn.Module:
        opts = dict(config.model_options)
        if config.weights_path:
            opts["weights_path"] = config.weights_path
        elif config.pretrained:
            opts["pretrained"] = get_spec("image", config.model).pretrained
        return get_model(
            "image",
            config.model,
            channels=meta["channels"],
            size=meta["size"],
            num_classes=len(meta["class_names"]),
            **opts,
        )

    def make_objective(self, config: RunConfig, data: ImageData) -> TensorClassification:
        return TensorClassification(
            data.x["train"], data.y["train"], data.x["val"], data.y["val"], augment=make_augment(**config.augment)
        )


TASK = ImageTask()

"""Image recognition: bundled datasets (digits, faces, shapes), your own folders, augmentation, evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from core.data import DataError
from core.data.folders import index_folder, open_data_path, stratified_split
from core.data.images import SHAPES, guess_channels, make_shapes, open_image, to_array
from core.models import freeze_backbone, get_model
from core.tasks import split_seed
from core.tasks.classification import ClassificationTask
from core.training import TensorClassification

DATASETS = {
    "digits": "scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes)",
    "faces": "scikit-image's LFW subset, 25x25: face vs not a face (200 images)",
    "shapes": "generated 32x32 colour shapes: " + ", ".join(SHAPES) + " (1,800 images)",
}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".ico"}
USER_IMAGE_SIZE = 32
# Per-model starting points for the page and CLI users (tuned on `digits`, see benchmarks/image_models.py).
DEFAULTS: dict[str, dict[str, Any]] = {
    "logreg": {},
    "mlp": {"epochs": 40, "lr": 1e-3, "batch_size": 64},
    "cnn": {"epochs": 30, "lr": 2e-3, "batch_size": 64, "schedule": "cosine"},
    "cnn_bn": {"epochs": 30, "lr": 3e-3, "batch_size": 64, "schedule": "cosine"},
    "dscnn": {"epochs": 30, "lr": 3e-3, "batch_size": 64, "schedule": "cosine"},
    "resnet": {"epochs": 20, "lr": 2e-3, "batch_size": 64, "schedule": "cosine"},
    "mobilenet_v3_small": {"epochs": 10, "lr": 1e-3, "batch_size": 64, "schedule": "cosine"},
    "resnet18": {"epochs": 8, "lr": 1e-3, "batch_size": 64, "schedule": "cosine"},
}
# Augmentation each model starts from: small shifts and turns help the convolutional nets on small data.
AUGMENT_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {"shift": 0.1, "rotate": 10.0, "flip": False} for name in ("cnn", "cnn_bn", "dscnn", "resnet")
}


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


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if name == "digits":
        d = load_digits()
        return (d.images[:, None] / 16.0).astype(np.float32), d.target, [str(i) for i in range(10)]
    if name == "faces":
        from skimage.data import lfw_subset  # shipped inside scikit-image: no download

        x = lfw_subset().astype(np.float32)[:, None]
        return x, np.array([0] * 100 + [1] * 100), ["face", "not a face"]
    if name == "shapes":
        x, y = make_shapes()
        return x, y, list(SHAPES)
    raise DataError(f"unknown image dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _split(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[dict, dict]:
    parts = stratified_split(y, seed)
    return (
        {k: torch.from_numpy(x[v]) for k, v in parts.items()},
        {k: torch.from_numpy(y[v]).long() for k, v in parts.items()},
    )


def load_folder(path: str | Path, seed: int = 0, size: int = USER_IMAGE_SIZE) -> ImageData:
    root = open_data_path(path)
    index = index_folder(root, IMAGE_EXTENSIONS)
    images = {
        split: [open_image(f, f"{f.parent.name}/{f.name}") for f in files] for split, files in index.files.items()
    }
    channels = guess_channels([im for ims in images.values() for im in ims])
    arrays = {s: np.stack([to_array(im, channels, size) for im in ims]) for s, ims in images.items()}
    labels = {s: np.array(v) for s, v in index.labels.items()}
    if index.given_split:
        x = {s: torch.from_numpy(a) for s, a in arrays.items()}
        y = {s: torch.from_numpy(v).long() for s, v in labels.items()}
        if "val" not in x:
            parts = stratified_split(labels["train"], seed, given_test=True)
            x["val"], y["val"] = x["train"][parts["val"]], y["train"][parts["val"]]
            x["train"], y["train"] = x["train"][parts["train"]], y["train"][parts["train"]]
            note = "test: your test/ folder; validation: 1/8 of your train/ folder (seeded, stratified)"
        else:
            note = "train/val/test: your own split folders"
    else:
        if len(labels["all"]) < 10:
            raise DataError(f"{root.name}: only {len(labels['all'])} images; at least 10 are needed to split")
        x, y = _split(arrays["all"], labels["all"], seed)
        note = "seeded stratified split 70/10/20 (train/validation/test)"
    return ImageData(root.name, x, y, index.class_names, note)


def load_bundled(name: str, seed: int = 0) -> ImageData:
    x, y, classes = _bundled(name)
    xs, ys = _split(x, y, seed)
    return ImageData(name, xs, ys, classes, "seeded stratified split 70/10/20 (train/validation/test)")


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

    def list_datasets(self) -> list[str]:
        return list(DATASETS)

    def load_data(self, config: dict[str, Any]) -> ImageData:
        if config.get("data"):
            return load_folder(config["data"], split_seed(config))
        return load_bundled(config.get("dataset") or "digits", split_seed(config))

    def build_model(self, config: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        opts = dict(config.get("model_options") or {})
        freeze = opts.pop("freeze_backbone", False)
        if config.get("weights_path"):
            opts["weights_path"] = config["weights_path"]
        model = get_model(
            "image",
            config["model"],
            channels=meta["channels"],
            size=meta["size"],
            num_classes=len(meta["class_names"]),
            **opts,
        )
        if freeze:
            freeze_backbone(model)
        return model

    def make_objective(self, config: dict[str, Any], data: ImageData) -> TensorClassification:
        aug = config.get("augment") or {}
        return TensorClassification(
            data.x["train"], data.y["train"], data.x["val"], data.y["val"], augment=make_augment(**aug)
        )


TASK = ImageTask()

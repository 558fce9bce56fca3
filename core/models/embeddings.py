"""A frozen backbone's embeddings, computed once per (data content, backbone, preprocessing) and kept on disk, so
training the head on them, and every what-if variant of it, takes seconds; and the penultimate layer of any model.

The key hashes the inputs' bytes, every backbone tensor (the head excluded: a new head does not change the features)
and the model's preprocessing (input size, interpolation): new data, other weights or another input size embed
afresh. Files are written whole (a temporary file renamed) and the least recently used go first past
DLSTUDIO_FEATURE_CACHE_MB, as the decoded-image cache does (core/data/image_cache.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.data import env_limit, save_cached_array
from core.data.roots import user_data_dir
from core.run.settings import RunConfig
from core.run.training import Objective, TensorClassification

VERSION = "1"  # bump when embedding changes what it makes of an input
CACHE_MB = 2048  # all cached embeddings together; DLSTUDIO_FEATURE_CACHE_MB
BATCH = 64  # inputs embedded at a time: bounds the resized copy (64 x 3 x 224 x 224 floats: 38 MB)
Progress = Callable[[int, int], None]


def cache_dir() -> Path:
    return user_data_dir() / "features"


def can_embed(model: nn.Module) -> bool:
    """A model whose head's input is a backbone's output (`embed(x)`) and that says how it preprocesses."""
    return hasattr(model, "embed") and isinstance(getattr(model, "head", None), nn.Linear)


def backbone_frozen(model: nn.Module) -> bool:
    """Only the head trains (core.models.freeze_backbone): the backbone's embeddings never change."""
    return all(name.startswith("head.") or not p.requires_grad for name, p in model.named_parameters())


def embedding_key(model: nn.Module, x: torch.Tensor) -> str:
    """Changes with the inputs, any backbone tensor or the preprocessing; not with the head."""
    digest = hashlib.sha256(f"v{VERSION} {type(model).__name__} {getattr(model, 'preprocessing', '')}\n".encode())
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith("head."):
            digest.update(f"{name} {tuple(tensor.shape)} {tensor.dtype}\n".encode())
            digest.update(_bytes(tensor))
    digest.update(f"inputs {tuple(x.shape)} {x.dtype}\n".encode())
    digest.update(_bytes(x))
    return digest.hexdigest()[:32]


def _bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's bytes without a copy where it is already contiguous on the CPU."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy())


@torch.no_grad()
def embeddings(model: nn.Module, x: torch.Tensor, progress: Progress | None = None) -> tuple[torch.Tensor, bool]:
    """(N, features) float32 embeddings of `x` (the head's input), and whether they came from the cache.
    Embedded BATCH inputs at a time in eval mode; progress(done, total) hears how far."""
    if len(x) == 0:
        return torch.zeros(0, model.head.in_features), False
    path = cache_dir() / f"{embedding_key(model, x)}.npy"
    cached = _load(path, len(x))
    if cached is not None:
        if progress is not None:
            progress(len(x), len(x))
        return torch.from_numpy(cached), True
    was_training = model.training
    model.eval()
    out = np.empty((len(x), model.head.in_features), np.float32)
    device = model.head.weight.device
    try:
        for start in range(0, len(x), BATCH):
            out[start : start + BATCH] = model.embed(x[start : start + BATCH].to(device)).float().cpu().numpy()
            if progress is not None:
                progress(min(start + BATCH, len(x)), len(x))
    finally:
        model.train(was_training)
    _save(path, out)
    return torch.from_numpy(out), False


def _load(path: Path, rows: int) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # none yet, or a damaged file: embed afresh
        return None
    if arr.dtype != np.float32 or arr.ndim != 2 or len(arr) != rows:
        return None
    os.utime(path)  # most recently used
    return arr


def _save(path: Path, arr: np.ndarray) -> None:
    save_cached_array(path, arr, env_limit("DLSTUDIO_FEATURE_CACHE_MB", CACHE_MB) * 1e6)


class HeadOnly(nn.Module):
    """The model's head alone (the same parameters), trained on embeddings instead of inputs."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, features) -> (B, classes)
        return self.head(z)


def head_training(
    model: nn.Module, objective: Objective, config: RunConfig, data: Any, progress: Progress | None = None
) -> tuple[nn.Module, Objective] | None:
    """With a frozen backbone and no augmentation: (the head alone, an objective over the cached embeddings of the
    training and validation splits). None where the whole model must run per batch (fine-tuning, augmentation)."""
    if not config.freeze_backbone or not can_embed(model) or getattr(objective, "augment", None) is not None:
        return None
    z = {split: embeddings(model, data.x[split], progress)[0] for split in ("train", "val")}
    return HeadOnly(model.head), TensorClassification(z["train"], data.y["train"], z["val"], data.y["val"])


@torch.no_grad()
def penultimate(model: nn.Module, x: torch.Tensor, batch: int = 256) -> np.ndarray | None:
    """The input of any model's `head` for `x` (N, features), eval mode: what the Map projects. None without a
    head (a model fitted by scikit-learn keeps its own features)."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Module) or len(x) == 0:
        return None
    seen: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().flatten(1).float().cpu()))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(x), batch):
            model(x[start : start + batch])
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(seen).numpy() if seen else None

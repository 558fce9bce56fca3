"""Pretrained weights through the libraries' own download-and-cache code: torchvision's weights API and torchaudio's
pipelines, both of which keep a file in the torch hub cache (`$TORCH_HOME/hub/checkpoints/`) and reuse it.

A model's spec names its weights (`pretrained=Pretrained(...)`); this module says where that file lands, what the
weights are (their `meta`: ImageNet top-1, parameters, recipe, licence), fetches them with progress, and turns a
failed download (offline, a firewall) into a message naming the file, where it comes from and the exact path to put
it in. A file already at that path is loaded without touching the network.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlparse

import torch

from core.data import DataError

Progress = Callable[[int, int], None]  # progress(bytes so far, bytes in all)
POLL_SECONDS = 0.25  # how often a download's partial file is measured
TORCHVISION_LICENCE = "https://github.com/pytorch/vision#pre-trained-model-license"


class WeightsUnavailable(DataError):
    """Pretrained weights that are not in the cache and could not be downloaded; the message says where to put them."""


@dataclass(frozen=True)
class Pretrained:
    """A model's pretrained weights: `source` is what `--pretrained` and the page call them ("imagenet"); `name` is
    the torchvision architecture (its weights are `get_model_weights(name).DEFAULT`) or the torchaudio pipeline."""

    source: str
    label: str  # in prose: "ImageNet-1K"
    library: str  # "torchvision" | "torchaudio"
    name: str  # "mobilenet_v3_small" | "WAV2VEC2_BASE"

    def weights(self) -> Any:
        """The library's own weights object: a torchvision Weights enum member or a torchaudio bundle."""
        if self.library == "torchvision":
            import torchvision

            return torchvision.models.get_model_weights(self.name).DEFAULT
        import torchaudio

        return getattr(torchaudio.pipelines, self.name)

    def input_size(self) -> int | None:
        """The side an image is given to the network at: the crop of the weights' own `transforms()` (224 for
        ImageNet). None for a speech encoder, which takes the waveform."""
        if self.library != "torchvision":
            return None
        return int(self.weights().transforms().crop_size[0])


def weights_url(pretrained: Pretrained) -> str:
    weights = pretrained.weights()
    if pretrained.library == "torchvision":
        return weights.url
    path = weights._path  # torchaudio's pipelines resolve a bare name under this folder (utils._get_state_dict)
    return path if path.startswith("https") else f"https://download.pytorch.org/torchaudio/models/{path}"


def cache_file(pretrained: Pretrained) -> Path:
    """Where torch.hub keeps the file: `<torch.hub.get_dir()>/checkpoints/<the URL's file name>`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights_url(pretrained)).path)


def is_cached(pretrained: Pretrained) -> bool:
    return cache_file(pretrained).is_file()


def facts(pretrained: Pretrained) -> dict[str, Any]:
    """What the page and `core list` show: the file, its size, where from, and the weights' own meta."""
    weights, path = pretrained.weights(), cache_file(pretrained)
    out: dict[str, Any] = {"label": pretrained.label, "file": path.name, "cache_path": str(path), "url": ""}
    out["url"] = weights_url(pretrained)
    if pretrained.library == "torchvision":
        meta = weights.meta
        top1 = next(iter(meta.get("_metrics", {}).values()), {}).get("acc@1")
        out.update(
            weights=str(weights),
            size_mb=meta.get("_file_size"),
            params=meta.get("num_params"),
            top1=top1,
            recipe=meta.get("recipe", ""),
            licence=TORCHVISION_LICENCE,
            transforms=str(weights.transforms()).replace("\n", " "),
        )
    else:
        licence = re.search(r"`License <(https://[^>]+)>`", weights.__doc__ or "")  # the bundle's docstring's link
        out.update(
            weights=f"torchaudio.pipelines.{pretrained.name}",
            size_mb=None,
            sample_rate=weights.sample_rate,
            licence=licence[1] if licence else "https://pytorch.org/audio/stable/pipelines.html",
            recipe="https://pytorch.org/audio/stable/pipelines.html",
        )
    if path.is_file():
        out["size_mb"] = round(path.stat().st_size / 1e6, 3)
    return out


def offline_message(pretrained: Pretrained, reason: str) -> str:
    path = cache_file(pretrained)
    return (
        f"{pretrained.label} weights {path.name} could not be downloaded from {weights_url(pretrained)} ({reason}). "
        f"Put the file at {path} (copy it from a machine that has it, or download it there) and try again; "
        f"TORCH_HOME={os.environ.get('TORCH_HOME', '(not set: ~/.cache/torch)')} decides that folder."
    )


def load_state_dict(pretrained: Pretrained, progress: Progress | None = None) -> dict[str, Any]:
    """The weights' state dict through the library's own loader: from the cache, or downloaded into it (progress
    hears the bytes, on the calling thread). Offline: WeightsUnavailable naming the file and the cache path."""
    path = cache_file(pretrained)
    try:
        if path.is_file() or progress is None:
            return _library_load(pretrained)
        return _load_watching(pretrained, path, progress)
    except (URLError, ConnectionError, TimeoutError) as exc:
        raise WeightsUnavailable(offline_message(pretrained, _reason(exc))) from exc
    except RuntimeError as exc:  # torch.hub's check of a downloaded file's hash
        if "hash" not in str(exc):
            raise
        raise WeightsUnavailable(offline_message(pretrained, f"the download was damaged: {exc}")) from exc


def _library_load(pretrained: Pretrained) -> dict[str, Any]:
    weights = pretrained.weights()
    if pretrained.library == "torchvision":
        # check_hash: a downloaded file must match the hash prefix in its name (a pre-seeded file is not checked)
        return weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    return weights._get_state_dict({"progress": False, "weights_only": True})  # what bundle.get_model() loads


def _load_watching(pretrained: Pretrained, path: Path, progress: Progress) -> dict[str, Any]:
    """The library's loader on a thread while this one measures torch.hub's partial file (`<file>.<uuid>.partial`
    beside the target) and tells `progress`: a page's progress bar must be drawn from the script's own thread."""
    box: dict[str, Any] = {}

    def load() -> None:
        try:
            box["state"] = _library_load(pretrained)
        except BaseException as exc:  # handed to the calling thread
            box["error"] = exc

    total = _expected_bytes(pretrained)
    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(POLL_SECONDS)
        sizes = [p.stat().st_size for p in path.parent.glob(f"{path.name}.*.partial") if p.is_file()]
        if sizes:
            progress(max(sizes), max(total, max(sizes)))
    if "error" in box:
        raise box["error"]
    size = path.stat().st_size if path.is_file() else total
    progress(size, size)
    return box["state"]


def fetch(pretrained: Pretrained, progress: Progress | None = None) -> Path:
    """Make sure the file is in the cache (downloading it with progress); returns its path."""
    if not is_cached(pretrained):
        load_state_dict(pretrained, progress)
    return cache_file(pretrained)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(exc).__name__}: {reason}"


def _expected_bytes(pretrained: Pretrained) -> int:
    size = facts(pretrained).get("size_mb")
    return int(size * 1e6) if size else 0

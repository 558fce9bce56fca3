"""Keyword spotting: the bundled `commands` set, your own audio folders, augmentation, evaluation, saliency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.data import DataError
from core.data.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, load_clip
from core.data.folders import FolderIndex, TooFewGroups, coverage_note, index_folder, open_data_path, split_index
from core.data.speakers import speaker_groups
from core.models import freeze_backbone, get_model, get_spec
from core.models.speech import MFCC, LogMel
from core.tasks import split_seed
from core.tasks.classification import ClassificationTask
from core.tasks.specs.speech import SPEC
from core.training import TensorClassification

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


@dataclass
class SpeechData:
    """Waveforms of each split, (N, clip_samples) floats at `sample_rate`, and what the model must know (`meta`)."""

    name: str
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    class_names: list[str]
    split_note: str
    files: dict[str, list[str]] = field(default_factory=dict)  # split -> "class/file.wav", for showing clips
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.meta = {
            "sample_rate": SAMPLE_RATE,
            "clip_samples": int(self.x["train"].shape[1]),
            "class_names": self.class_names,
            "dataset": self.name,
        }


def load_folder(path: str | Path, seed: int = 0, name: str | None = None, group_by: str = "auto") -> SpeechData:
    """A folder or .zip of class folders of audio (optional train/val/test) -> 16 kHz mono 1-s clips, split.

    `group_by` (core.data.speakers.GROUP_BY): "auto" keeps each speaker in one split when speakers can be read
    from the file names or folders, "speaker" insists on it, "none" splits clips regardless of who speaks.
    """
    root = open_data_path(path)
    index = index_folder(root, AUDIO_EXTENSIONS)
    files, labels = index.all_files, index.all_labels
    if not index.given_split and len(labels) < 10:
        raise DataError(f"{root.name}: only {len(labels)} clips; at least 10 are needed to split")
    names = [f"{f.parent.name}/{f.name}" for f in files]
    waves = np.stack([load_clip(f, n) for f, n in zip(files, names)])
    parts, note = _split_by_speaker(index, seed, group_by)
    note += coverage_note(parts, labels, index.class_names)
    x = {s: torch.from_numpy(waves[i]) for s, i in parts.items()}
    y = {s: torch.from_numpy(labels[i]).long() for s, i in parts.items()}
    split_names = {s: [names[j] for j in i] for s, i in parts.items()}
    return SpeechData(name or root.name, x, y, index.class_names, note, split_names)


def _split_by_speaker(index: FolderIndex, seed: int, group_by: str) -> tuple[dict[str, np.ndarray], str]:
    """split_index with speaker groups; under "auto", too few speakers to go round falls back to clips."""
    groups = speaker_groups(index.all_files, index.all_labels, index.class_names, group_by)
    try:
        return split_index(index, seed, groups)
    except TooFewGroups as exc:
        if group_by == "speaker":
            raise DataError(f"group_by=speaker: {exc}") from exc
        parts, note = split_index(index, seed)
        return parts, f"{note}; not grouped by speaker: {exc}"


def load_bundled(name: str, seed: int = 0, group_by: str = "auto") -> SpeechData:
    if name not in SPEC.dataset_names:
        raise DataError(f"unknown speech dataset {name!r}; choose one of {', '.join(SPEC.dataset_names)}")
    folder = SAMPLE_DATA / name
    if not folder.is_dir():
        raise DataError(f"{name}: bundled data missing at {folder}; regenerate it with scripts/make_commands.py")
    return load_folder(folder, seed, name, group_by)


def add_noise(x: torch.Tensor, snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """Pink (1/f) background noise scaled so each clip's signal-to-noise ratio is `snr_db`."""
    white = torch.randn(x.shape, generator=generator)
    spectrum = torch.fft.rfft(white)
    spectrum[:, 1:] /= torch.arange(1, spectrum.shape[1]).sqrt()  # 1/f power: pink
    spectrum[:, 0] = 0
    noise = torch.fft.irfft(spectrum, n=x.shape[1])
    signal_power = x.pow(2).mean(1, keepdim=True)
    noise_power = noise.pow(2).mean(1, keepdim=True).clamp_min(1e-12)
    return x + noise * torch.sqrt(signal_power / noise_power / 10 ** (snr_db / 10))


def time_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move each clip by up to `max_shift` samples either way, filling the gap with silence (no wrap-around)."""
    n, length = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=generator)
    padded = nn.functional.pad(x, (max_shift, max_shift))
    index = torch.arange(length)[None] + max_shift - shifts
    return padded.gather(1, index)


def make_augment(noise_snr: float | None = None, shift: float = 0.0, sample_rate: int = SAMPLE_RATE, **_):
    """Waveform augmentation for a batch: background noise at `noise_snr` dB and time shift of up to `shift` s.

    SpecAugment (`time_mask`, `freq_mask`) is not here: it runs inside the model, on its spectrogram.
    """
    max_shift = int(shift * sample_rate)
    if noise_snr is None and not max_shift:
        return None

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if max_shift:
            x = time_shift(x, max_shift, generator)
        if noise_snr is not None:
            x = add_noise(x, noise_snr, generator)
        return x

    return augment


def spec_augment_options(augment: dict[str, Any]) -> dict[str, int] | None:
    time_mask, freq_mask = int(augment.get("time_mask") or 0), int(augment.get("freq_mask") or 0)
    return {"time_mask": time_mask, "freq_mask": freq_mask} if time_mask or freq_mask else None


class SpeechTask(ClassificationTask):
    """Latency (footprint) is for one example, i.e. one one-second clip, features included."""

    name = "speech"
    spec = SPEC
    predict_batch = 256

    def load_data(self, config: dict[str, Any], progress: Callable[[int, int], None] | None = None) -> SpeechData:
        group_by = config.get("group_by", "auto")
        if config.get("data"):
            return load_folder(config["data"], split_seed(config), group_by=group_by)
        return load_bundled(config.get("dataset") or SPEC.dataset_names[0], split_seed(config), group_by)

    def build_model(self, config: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        model_spec = get_spec("speech", config["model"])
        opts = dict(config.get("model_options") or {})
        freeze = opts.pop("freeze_backbone", False)
        masks = spec_augment_options(config.get("augment") or {})
        if masks and not model_spec.closed_form:
            opts["spec_augment"] = masks
        model = get_model(
            "speech",
            config["model"],
            num_classes=len(meta["class_names"]),
            sample_rate=meta["sample_rate"],
            clip_samples=meta["clip_samples"],
            **opts,
        )
        if freeze:
            freeze_backbone(model)
        return model

    def make_objective(self, config: dict[str, Any], data: SpeechData) -> TensorClassification:
        augment = make_augment(**(config.get("augment") or {}), sample_rate=data.meta["sample_rate"])
        return TensorClassification(data.x["train"], data.y["train"], data.x["val"], data.y["val"], augment=augment)

    def mistake_details(self, data: SpeechData, worst: list[int]) -> dict[str, Any]:
        return {"mistake_files": [data.files["test"][i] for i in worst] if data.files.get("test") else []}


def prepare_clip(source: bytes | str | Path, name: str, meta: dict[str, Any]) -> torch.Tensor:
    """An uploaded or recorded file -> a (1, clip_samples) input exactly as the model saw in training."""
    wave = load_clip(source, name, meta["sample_rate"], meta["clip_samples"], allow_silent=False)
    return torch.from_numpy(wave)[None]


@torch.no_grad()
def clip_features(wave: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """The features the models compute, for one clip: log-mel (40, frames) and MFCC (20, frames)."""
    wave = torch.as_tensor(wave, dtype=torch.float32).reshape(1, -1)
    logmel = LogMel(sample_rate)(wave)
    return {"logmel": logmel[0].numpy(), "mfcc": MFCC()(logmel)[0].numpy()}


def spectrogram_saliency(model: nn.Module, wave: torch.Tensor, target: int) -> tuple[np.ndarray, np.ndarray]:
    """|d logit_target / d log-mel| for one clip (1, L), scaled to [0, 1]; returns (log-mel, saliency), (40, T)."""
    model.eval()
    with torch.no_grad():
        spec = model.spectrogram(wave)
    spec.requires_grad_(True)
    model.classify(spec)[0, target].backward()
    grad = spec.grad.abs()[0]
    return spec.detach()[0].numpy(), (grad / grad.max().clamp_min(1e-12)).numpy()


TASK = SpeechTask()

"""Keyword spotting: the bundled `commands` set, your own audio folders, augmentation, evaluation, saliency."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.data import DataError, env_limit
from core.data.audio import (
    AUDIO_EXTENSIONS,
    CLIP_SAMPLES,
    SAMPLE_RATE,
    load_clip,
    load_clip_and_rate,
    resampling_note,
)
from core.data.folders import (
    SPLITS,
    FolderIndex,
    TooFewGroups,
    coverage_note,
    group_note,
    index_folder,
    open_data_path,
    split_index,
)
from core.data.speakers import UNREAD, read_speakers, speaker_groups
from core.models import get_model, get_spec
from core.models.speech import MFCC, LogMel
from core.run.settings import RunConfig
from core.run.training import TensorClassification
from core.tasks.classification import ClassificationTask
from core.tasks.specs.speech import SPEC

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
# Folders that hold audio but are no word: Speech Commands' long recordings of background noise.
NOT_CLASSES = {"_background_noise_": "Speech Commands' long background-noise recordings, not a word"}
MAX_CLIPS = 120_000  # clips in one data set (Speech Commands v2 holds 105,829); DLSTUDIO_MAX_CLIPS


def max_clips() -> int:
    return int(env_limit("DLSTUDIO_MAX_CLIPS", MAX_CLIPS))


# Speech Commands' own split: files named (relative to the folder) in these lists are validation and test.
SPLIT_LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}


@dataclass
class SpeechData:
    """Waveforms of each split, (N, clip_samples) floats at `sample_rate`, and what the model must know (`meta`)."""

    name: str
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    class_names: list[str]
    split_note: str
    files: dict[str, list[str]] = field(default_factory=dict)  # split -> "class/file.wav", for showing clips
    source_rate: int = SAMPLE_RATE  # the lowest sample rate of the training files: the band they can hold
    test_speakers: np.ndarray | None = None  # each test clip's speaker ("clip:..." when unknown); None: unread
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.meta = {
            "sample_rate": SAMPLE_RATE,
            "source_rate": min(self.source_rate, SAMPLE_RATE),
            "clip_samples": int(self.x["train"].shape[1]),
            "class_names": self.class_names,
            "dataset": self.name,
        }


def load_folder(
    path: str | Path,
    seed: int = 0,
    name: str | None = None,
    group_by: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> SpeechData:
    """A folder or .zip of class folders of audio (optional train/val/test) -> 16 kHz mono 1-s clips, split.

    `group_by` (core.data.speakers.GROUP_BY): "auto" keeps each speaker in one split when speakers can be read
    from the file names or folders, "speaker" insists on it, "none" splits clips regardless of who speaks.
    Given split folders, or Speech Commands' validation_list.txt and testing_list.txt, are kept as they are.
    `progress(done, total)` hears how far decoding got, about every 1%. Memory: one second of float32 at 16 kHz
    a clip (64 KB), at most `max_clips()` clips (7.7 GB at the default), refused before anything is decoded.
    """
    root = open_data_path(path)
    index = index_folder(root, AUDIO_EXTENSIONS, NOT_CLASSES)
    files, labels = index.all_files, index.all_labels
    if not index.given_split and len(labels) < 10:
        raise DataError(f"{root.name}: only {len(labels)} clips; at least 10 are needed to split")
    if len(files) > max_clips():
        raise DataError(
            f"{root.name}: {len(files):,} clips, more than the limit of {max_clips():,} (DLSTUDIO_MAX_CLIPS; "
            f"{CLIP_SAMPLES * 4 / 1e3:.0f} KB each in memory)"
        )
    names = [f"{f.parent.name}/{f.name}" for f in files]
    waves = np.empty((len(files), CLIP_SAMPLES), np.float32)  # filled in place: no second copy to stack
    rates = np.empty(len(files), np.int64)
    every = max(1, len(files) // 100)
    for i, (f, n) in enumerate(zip(files, names)):
        waves[i], rates[i] = load_clip_and_rate(f, n)
        if progress is not None and (i % every == 0 or i == len(files) - 1):
            progress(i + 1, len(files))
    parts, note = _split_by_lists(root, index, group_by)
    if parts is None:
        parts, split = _split_by_speaker(index, seed, group_by, root)
        note = split + note
    note += coverage_note(parts, labels, index.class_names)
    note += "".join(f"; {name}/ left out: {NOT_CLASSES[name]}" for name in index.left_out)
    note += resampling_note(rates)
    x = {s: torch.from_numpy(waves[i]) for s, i in parts.items()}
    y = {s: torch.from_numpy(labels[i]).long() for s, i in parts.items()}
    split_names = {s: [names[j] for j in i] for s, i in parts.items()}
    source_rate = int(rates[parts["train"]].min())  # the band training noise is shaped to: training files only
    speakers = read_speakers(files, labels, index.class_names, root)  # for the intervals, however the split was made
    test_speakers = speakers[parts["test"]] if speakers is not None else None
    return SpeechData(name or root.name, x, y, index.class_names, note, split_names, source_rate, test_speakers)


def _split_by_lists(root: Path, index: FolderIndex, group_by: str) -> tuple[dict[str, np.ndarray] | None, str]:
    """Speech Commands' own split: the files its validation_list.txt and testing_list.txt name (paths relative
    to the folder, one a line), training the rest. The lists decide, as given split folders do: the seed and
    `group_by` do not change them, and the note counts the speakers found in more than one split. (None, why
    not) when the folder has no such lists or has split folders, or when a list is missing or names none of its
    files (the note then says so)."""
    lists = {split: root / name for split, name in SPLIT_LISTS.items() if (root / name).is_file()}
    if index.given_split or not lists:
        return None, ""
    found = " and ".join(path.name for path in lists.values())
    if len(lists) < len(SPLIT_LISTS):
        absent = next(name for split, name in SPLIT_LISTS.items() if split not in lists)
        return None, f"; {found} not used: {absent} is missing"
    named: dict[str, set[str]] = {}
    for split, path in lists.items():
        with path.open(encoding="utf-8-sig", errors="replace") as f:  # -sig: a byte-order mark is no path
            named[split] = {posixpath.normpath(line.strip().replace("\\", "/")) for line in f if line.strip()}
    where = np.array(
        [next((s for s in ("test", "val") if f.relative_to(root).as_posix() in named[s]), "train")
         for f in index.all_files]
    )  # fmt: skip
    empty = [SPLIT_LISTS[s] for s in ("val", "test") if not (where == s).any()]
    if empty or not (where == "train").any():
        if len(empty) == 2:
            why = f"neither {empty[0]} nor {empty[1]} names any of these files"
        elif empty:
            why = f"{empty[0]} names none of these files"
        else:
            why = "they name every file"
        return None, f"; {found} not used: {why}"
    parts = {s: np.flatnonzero(where == s) for s in SPLITS}
    note = f"validation and test: the files your {SPLIT_LISTS['val']} and {SPLIT_LISTS['test']} name (Speech "
    note += "Commands' own split); training: the rest"
    groups = speaker_groups(index.all_files, index.all_labels, index.class_names, group_by, root)
    return parts, note + (f"; {group_note(parts, groups)}" if groups is not None else "")


def _split_by_speaker(index: FolderIndex, seed: int, group_by: str, root: Path) -> tuple[dict[str, np.ndarray], str]:
    """split_index with speaker groups; under "auto", too few speakers to go round falls back to clips, and no
    speakers found is a warning."""
    groups = speaker_groups(index.all_files, index.all_labels, index.class_names, group_by, root)
    if groups is None and group_by == "auto":
        parts, note = split_index(index, seed)
        return parts, note + UNREAD
    if groups is not None and group_by == "auto" and _test_shares_speakers(index, groups):
        # Validation should ask what the test asks: when your test/ folder is spoken by the people in train/,
        # holding whole speakers out of training for validation would only take their voices away from the
        # model (and the test still hears them), so validation is carved by clip, as the test was made.
        parts, note = split_index(index, seed)
        return parts, f"{note}; by clip, not speaker: your test/ speakers all speak in train/ too"
    try:
        return split_index(index, seed, groups)
    except TooFewGroups as exc:
        if group_by == "speaker":
            raise DataError(f"group_by=speaker: {exc}") from exc
        parts, note = split_index(index, seed)
        return parts, f"{note}; not grouped by speaker: {exc}"


def _test_shares_speakers(index: FolderIndex, groups: np.ndarray) -> bool:
    """A given test/ folder (no val/) whose speakers all speak in train/ too: a held-out-takes protocol."""
    origin = index.origin()
    if not index.given_split or "val" in index.files or "test" not in index.files:
        return False
    return set(groups[origin == "test"]) <= set(groups[origin == "train"])


def load_bundled(name: str, seed: int = 0, group_by: str = "auto") -> SpeechData:
    """A bundled set, loaded as its spec says."""
    return SPEC.bundled(name).load(seed=seed, group_by=group_by)


def load_sample(name: str, seed: int = 0, group_by: str = "auto") -> SpeechData:
    """A bundled set's loader: its folder under sample_data/, made by scripts/make_<name>.py."""
    folder = SAMPLE_DATA / name
    if not folder.is_dir():
        raise DataError(f"{name}: bundled data missing at {folder}; regenerate it with scripts/make_{name}.py")
    return load_folder(folder, seed, name, group_by)


def sound_span(x: torch.Tensor, floor: float = 1e-4) -> torch.Tensor:
    """(N, L) bool: from each clip's first to its last sample above `floor`, the part a recording filled.

    A clip shorter than the window is centred in exact zeros (core.data.audio.fit_window); no noise is there.
    """
    loud = x.abs() > floor
    position = torch.arange(x.shape[1])
    first = torch.where(loud, position, x.shape[1]).min(1, keepdim=True).values
    last = torch.where(loud, position, -1).max(1, keepdim=True).values
    return (position >= first) & (position <= last)


def add_noise(
    x: torch.Tensor, snr_db: float, generator: torch.Generator, band: float = 1.0, span: torch.Tensor | None = None
) -> torch.Tensor:
    """Pink (1/f) background noise scaled so each clip's signal-to-noise ratio is `snr_db`.

    `band` (0-1] keeps the noise below that fraction of the Nyquist frequency: recordings made at 8 kHz hold
    nothing above 4 kHz, so noise there would teach the model a sound its data never has. `span` (N, L) bool
    keeps it where the recording is (sound_span), off the zero padding around a short clip.
    """
    white = torch.randn(x.shape, generator=generator)
    spectrum = torch.fft.rfft(white)
    spectrum[:, 1:] /= torch.arange(1, spectrum.shape[1]).sqrt()  # 1/f power: pink
    spectrum[:, 0] = 0
    spectrum[:, int(band * (spectrum.shape[1] - 1)) + 1 :] = 0
    noise = torch.fft.irfft(spectrum, n=x.shape[1])
    if span is None:
        span = torch.ones_like(x, dtype=torch.bool)
    noise = noise * span
    samples = span.sum(1, keepdim=True).clamp_min(1)
    signal_power = x.pow(2).sum(1, keepdim=True) / samples
    noise_power = (noise.pow(2).sum(1, keepdim=True) / samples).clamp_min(1e-12)
    return x + noise * torch.sqrt(signal_power / noise_power / 10 ** (snr_db / 10))


def time_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move each clip by up to `max_shift` samples either way, filling the gap with silence (no wrap-around)."""
    n, length = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=generator)
    padded = nn.functional.pad(x, (max_shift, max_shift))
    index = torch.arange(length)[None] + max_shift - shifts
    return padded.gather(1, index)


def speed_perturb(x: torch.Tensor, max_change: float, generator: torch.Generator) -> torch.Tensor:
    """Play each clip up to `max_change` faster or slower (tempo and pitch together), about the window's centre.

    Speed perturbation (Ko et al., 2015, "Audio augmentation for speech recognition"): a voice a little higher
    or lower and quicker or slower stands in for speakers the data does not have. Linear interpolation; what
    falls outside the window is silence.
    """
    n, length = x.shape
    factor = 1 + (torch.rand(n, 1, generator=generator) * 2 - 1) * max_change
    centre = (length - 1) / 2
    position = centre + (torch.arange(length) - centre) * factor
    left = position.floor().long()
    inside = (left >= 0) & (left < length - 1)
    left = left.clamp(0, length - 2)
    frac = position - left
    return (x.gather(1, left) * (1 - frac) + x.gather(1, left + 1) * frac) * inside


def make_augment(
    noise_snr: float | None = None,
    shift: float = 0.0,
    speed: float = 0.0,
    sample_rate: int = SAMPLE_RATE,
    source_rate: int = SAMPLE_RATE,
    **_,
):
    """Waveform augmentation for a batch: speed perturbation of up to `speed`, time shift of up to `shift` s,
    background noise at `noise_snr` dB below the recordings' band (`source_rate` / 2) and off the padding.

    SpecAugment (`time_mask`, `freq_mask`) is not here: it runs inside the model, on its spectrogram.
    """
    max_shift = int(shift * sample_rate)
    if noise_snr is None and not max_shift and not speed:
        return None
    band = min(1.0, source_rate / sample_rate)

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if speed:
            x = speed_perturb(x, speed, generator)
        if max_shift:
            x = time_shift(x, max_shift, generator)
        if noise_snr is not None:
            x = add_noise(x, noise_snr, generator, band, sound_span(x))
        return x

    return augment


def spec_augment_options(augment: dict[str, Any]) -> dict[str, Any] | None:
    """What the model's SpecAugment does while training (masks, frequency warp), None for nothing."""
    time_mask, freq_mask = int(augment.get("time_mask") or 0), int(augment.get("freq_mask") or 0)
    warp = float(augment.get("freq_warp") or 0.0)
    if not (time_mask or freq_mask or warp):
        return None
    return {"time_mask": time_mask, "freq_mask": freq_mask} | ({"freq_warp": warp} if warp else {})


class SpeechTask(ClassificationTask):
    """Latency (footprint) is for one example, i.e. one one-second clip, features included."""

    name = "speech"
    spec = SPEC
    predict_batch = 256

    def load_data(self, config: RunConfig, progress: Callable[[int, int], None] | None = None) -> SpeechData:
        if config.data:
            return load_folder(config.data, config.split_seed, group_by=config.group_by, progress=progress)
        return load_bundled(config.dataset or SPEC.dataset_names[0], config.split_seed, config.group_by)

    def new_model(self, config: RunConfig, meta: dict[str, Any]) -> nn.Module:
        model_spec = get_spec("speech", config.model)
        opts = dict(config.model_options)
        masks = spec_augment_options(config.augment)
        if masks and not model_spec.closed_form:
            opts["spec_augment"] = masks
        if config.weights_path:
            opts["weights_path"] = config.weights_path
        elif config.pretrained:
            opts["pretrained"] = model_spec.pretrained
        return get_model(
            "speech",
            config.model,
            num_classes=len(meta["class_names"]),
            sample_rate=meta["sample_rate"],
            clip_samples=meta["clip_samples"],
            band=recording_band(meta),
            **opts,
        )

    def make_objective(self, config: RunConfig, data: SpeechData) -> TensorClassification:
        augment = make_augment(
            **config.augment,
            sample_rate=data.meta["sample_rate"],
            source_rate=data.meta.get("source_rate", data.meta["sample_rate"]),
        )
        return TensorClassification(data.x["train"], data.y["train"], data.x["val"], data.y["val"], augment=augment)

    def mistake_details(self, data: SpeechData, worst: list[int]) -> dict[str, Any]:
        return {"mistake_files": [data.files["test"][i] for i in worst] if data.files.get("test") else []}


def recording_band(meta: dict[str, Any]) -> float | None:
    """The highest frequency the training recordings hold (Hz), where it is below the models' Nyquist frequency:
    the top of the models' mel bands (core.models.speech.LogMel). None: the whole band."""
    source = meta.get("source_rate", meta["sample_rate"])
    return source / 2 if source < meta["sample_rate"] else None


def prepare_clip(source: bytes | str | Path, name: str, meta: dict[str, Any]) -> torch.Tensor:
    """An uploaded or recorded file -> a (1, clip_samples) input exactly as the model saw in training."""
    wave = load_clip(source, name, meta["sample_rate"], meta["clip_samples"], allow_silent=False)
    return torch.from_numpy(wave)[None]


@torch.no_grad()
def clip_features(
    wave: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE, band: float | None = None
) -> dict[str, np.ndarray]:
    """The features the models compute, for one clip: log-mel (40, frames) up to `band` Hz and MFCC (20, frames)."""
    wave = torch.as_tensor(wave, dtype=torch.float32).reshape(1, -1)
    logmel = LogMel(sample_rate, band=band)(wave)
    return {"logmel": logmel[0].numpy(), "mfcc": MFCC()(logmel)[0].numpy()}


@torch.no_grad()
def heard_logmel(model: nn.Module | None, wave: np.ndarray | torch.Tensor) -> np.ndarray:
    """The log-mel (40, frames) `model` computes from a clip or a stream: its own filterbank, so the band it was
    trained on (old runs included); the whole band for a model with no spectrogram of its own (a waveform encoder)
    or no model at all (a run whose checkpoint is gone)."""
    wave = torch.as_tensor(wave, dtype=torch.float32).reshape(1, -1)
    if hasattr(model, "spectrogram"):
        return model.spectrogram(wave)[0].numpy()
    return LogMel(getattr(model, "sample_rate", SAMPLE_RATE))(wave)[0].numpy()


def spectrogram_saliency(model: nn.Module, wave: torch.Tensor, target: int) -> tuple[np.ndarray, np.ndarray]:
    """|d logit_target / d log-mel| for one clip (1, L), scaled to [0, 1]; returns (log-mel, saliency), (40, T).
    A waveform encoder (no spectrogram of its own) gets |d logit / d sample|, its largest per frame, over every bin."""
    model.eval()
    if not hasattr(model, "spectrogram"):
        return _waveform_saliency(model, wave, target)
    with torch.no_grad():
        spec = model.spectrogram(wave)
    spec.requires_grad_(True)
    model.classify(spec)[0, target].backward()
    grad = spec.grad.abs()[0]
    return spec.detach()[0].numpy(), (grad / grad.max().clamp_min(1e-12)).numpy()


def _waveform_saliency(model: nn.Module, wave: torch.Tensor, target: int) -> tuple[np.ndarray, np.ndarray]:
    spec = heard_logmel(model, wave)  # (40, frames): shown under the saliency
    wave = wave.clone().requires_grad_(True)
    model(wave)[0, target].backward()
    per_frame = nn.functional.adaptive_max_pool1d(wave.grad.abs()[None], spec.shape[-1])[0, 0]  # (frames,)
    grad = per_frame[None].expand(spec.shape[0], -1)
    return spec, (grad / grad.max().clamp_min(1e-12)).numpy()


TASK = SpeechTask()

"""Audio decoding for user data, uploads and recordings: any WAV/FLAC/OGG/MP3 -> 16 kHz mono 1-s clips."""

from __future__ import annotations

import io
import os
import re
import struct
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from core.data import DataError
from core.data.folders import files_per_class, next_number

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 16_000  # the model's window: one second
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff"}
MAX_BYTES = 32_000_000  # refused before decoding: a keyword clip is a few kB
MAX_SECONDS = 60.0  # refused from the header alone, so a ten-minute file costs nothing
SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS
MAX_AMPLITUDE = 1000.0  # a float file's samples may pass ±1 (headroom); 1e30 is no recording
# torchaudio's resampling kernel holds about (to x from) taps for the rates' ratio in lowest terms: 1,000,000 is
# 4 MB; 8,001 Hz -> 16 kHz (no common factor) would be 128 million taps, gigabytes.
MAX_RATIO_TAPS = 1_000_000

Source = str | Path | bytes


def _name(source: Source, name: str | None) -> str:
    if name:
        return name
    return "upload" if isinstance(source, bytes) else Path(source).name


def _open(source: Source) -> BinaryIO | str:
    return io.BytesIO(source) if isinstance(source, bytes) else str(source)


def _size(source: Source) -> int:
    return len(source) if isinstance(source, bytes) else os.path.getsize(source)


def _wav_shortfall(source: Source) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE `data` chunk when the file holds fewer than its header says.

    libsndfile quietly reads what is there; we would rather say the file is cut short.
    Streaming writers put 0 or 0xFFFFFFFF as the size: that is 'unknown', not truncated.
    """
    with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        total = _size(source)
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                present = total - f.tell()
                if size in (0, 0xFFFFFFFF) or present >= size:
                    return None
                return size, present
            f.seek(size + (size & 1), io.SEEK_CUR)


def decode(source: Source, name: str | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file (path or bytes) to mono float32 samples and its sample rate.

    Refuses, with a DataError naming the file: empty, too big or too long (checked from the size and the
    header before any decoding), not audio, corrupt or truncated, no samples, NaN/inf samples.
    """
    name = _name(source, name)
    try:
        nbytes = _size(source)
    except OSError as exc:
        raise DataError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    if nbytes == 0:
        raise DataError(f"{name}: the file is empty (0 bytes)")
    if nbytes > MAX_BYTES:
        raise DataError(f"{name}: {nbytes / 1e6:.1f} MB is over the {MAX_BYTES / 1e6:.0f} MB limit for one audio file")
    try:
        info = sf.info(_open(source))
        if info.frames > 0 and info.duration > MAX_SECONDS:
            minutes = f"{info.duration / 60:.1f} minutes" if info.duration >= 120 else f"{info.duration:.0f} s"
            raise DataError(
                f"{name}: {minutes} long; clips over {MAX_SECONDS:.0f} s are refused (a keyword clip is about 1 s)"
            )
        short = _wav_shortfall(source)
        if short is not None:
            raise DataError(
                f"{name}: truncated WAV (the header promises {short[0]:,} bytes of audio, the file holds {short[1]:,})"
            )
        wave, rate = sf.read(_open(source), dtype="float32", always_2d=True)
    except DataError:
        raise
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, EOFError, struct.error) as exc:
        reason = re.sub(r"^Error opening .*?: ", "", str(exc)).strip() or type(exc).__name__
        raise DataError(f"{name}: not a readable audio file ({reason})") from exc
    if wave.shape[0] == 0:
        raise DataError(f"{name}: holds no audio samples (zero length)")
    if not np.isfinite(wave).all():
        raise DataError(f"{name}: holds NaN or infinite samples")
    peak = float(np.abs(wave).max())
    if peak > MAX_AMPLITUDE:  # its power overflows float32 in the features: NaN in every model
        limit = f"audio is within ±1; over ±{MAX_AMPLITUDE:,.0f} is refused"
        raise DataError(f"{name}: samples reach {peak:.3g}, out of range ({limit})")
    return wave.mean(axis=1), int(rate)  # mix the channels down


def resampling_ratio(rate: int, target: int = SAMPLE_RATE) -> tuple[int, int]:
    """(from, to): the whole numbers `rate` is resampled by, in lowest terms, within MAX_RATIO_TAPS.

    Every common rate is exact (44.1 kHz -> 16 kHz is 441 -> 160). A rate whose ratio to `target` needs larger
    terms (8,001 Hz: 8001 -> 16000) is resampled by the nearest fraction with terms up to 1,000: 8,001 Hz is
    treated as 8,000 Hz, a pitch change of 0.0125% (`resampling_note` says so).
    """
    exact = Fraction(target, rate)
    if exact.numerator * exact.denominator <= MAX_RATIO_TAPS:
        return exact.denominator, exact.numerator
    most = int(MAX_RATIO_TAPS**0.5)
    if target >= rate:  # the ratio below 1 is approximated, so both terms stay within `most`
        near = max(Fraction(rate, target).limit_denominator(most), Fraction(1, most))
        return near.numerator, near.denominator
    near = max(Fraction(target, rate).limit_denominator(most), Fraction(1, most))
    return near.denominator, near.numerator


def resampling_note(rates: Iterable[int], target: int = SAMPLE_RATE) -> str:
    """'; clips at 8,001 Hz resampled as if at 8,000.5 Hz (...)' for each rate resampling_ratio approximated."""
    notes = []
    for rate in sorted(set(int(r) for r in rates)):
        source, to = resampling_ratio(rate, target)
        used = target * source / to
        if used != rate:
            notes.append(f"{rate:,} Hz as if at {used:,.1f} Hz (pitch off by {abs(used / rate - 1):.4%})")
    if not notes:
        return ""
    return f"; clips at {', '.join(notes)}: the nearest ratio of small whole numbers, so resampling stays fast"


def resample(wave: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """`wave` at `rate` -> at `target` (torchaudio's sinc interpolation, by resampling_ratio: bounded memory)."""
    source, to = resampling_ratio(rate, target)
    if source == to:
        return wave
    return AF.resample(torch.from_numpy(np.ascontiguousarray(wave)), source, to).numpy()


def fit_window(wave: np.ndarray, length: int = CLIP_SAMPLES) -> np.ndarray:
    """Exactly `length` samples: a shorter clip is centred in zeros, a longer one cropped to its loudest window.

    The same rule runs in training and prediction, so the model sees a clip the same way both times.
    """
    n = len(wave)
    if n == length:
        return wave.astype(np.float32, copy=False)
    if n < length:
        left = (length - n) // 2
        return np.pad(wave, (left, length - n - left)).astype(np.float32)
    energy = np.concatenate([[0.0], np.cumsum(wave.astype(np.float64) ** 2)])
    window = energy[length:] - energy[:-length]  # energy of every window start
    start = int(np.argmax(window)) if window.max() > 0 else (n - length) // 2
    return wave[start : start + length].astype(np.float32)


def load_clip(
    source: Source,
    name: str | None = None,
    sample_rate: int = SAMPLE_RATE,
    clip_samples: int = CLIP_SAMPLES,
    allow_silent: bool = True,
) -> np.ndarray:
    """One file -> float32 (clip_samples,) at `sample_rate`, mono, padded or cropped to the window."""
    return load_clip_and_rate(source, name, sample_rate, clip_samples, allow_silent)[0]


def load_clip_and_rate(
    source: Source,
    name: str | None = None,
    sample_rate: int = SAMPLE_RATE,
    clip_samples: int = CLIP_SAMPLES,
    allow_silent: bool = True,
) -> tuple[np.ndarray, int]:
    """load_clip, and the file's own sample rate (an 8 kHz recording holds nothing above 4 kHz)."""
    name = _name(source, name)
    wave, rate = decode(source, name)
    if not allow_silent and np.abs(wave).max() < SILENCE_PEAK:
        raise DataError(f"{name}: the clip is silent (peak below -60 dBFS); check the microphone")
    return fit_window(resample(wave, rate, sample_rate), clip_samples), rate


SAFE_NAME = re.compile(r"^[\w][\w .-]{0,63}$")


def safe_name(text: str, what: str) -> str:
    """A folder name typed by a user: letters, digits, spaces, _ . - only, no path tricks."""
    text = text.strip()
    if not SAFE_NAME.match(text) or text.strip(".") != text:
        raise DataError(f"{text!r}: not a usable {what} name (use letters, digits, spaces, _ . -)")
    return text


def save_recording(raw: bytes, root: str | Path, dataset: str, class_name: str) -> Path:
    """Keep a recording as `root/<dataset>/<class>/clip_N.wav` (16 kHz mono 16-bit), a dataset folder to reuse.

    The recording is checked and resampled first, so a bad or silent one is refused, not saved.
    """
    folder = Path(root) / safe_name(dataset, "dataset") / safe_name(class_name, "class")
    wave, rate = decode(raw, f"recording for {class_name!r}")
    if np.abs(wave).max() < SILENCE_PEAK and class_name != "_silence_":
        raise DataError(f"recording for {class_name!r}: the clip is silent (peak below -60 dBFS); check the microphone")
    wave = np.clip(resample(wave, rate, SAMPLE_RATE), -1.0, 1.0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"clip_{next_number(folder, 'clip_', '.wav')}.wav"
    sf.write(path, wave, SAMPLE_RATE, subtype="PCM_16")
    return path


def recording_counts(root: str | Path, dataset: str) -> dict[str, int]:
    """Clips saved so far per class of a recorded dataset."""
    return files_per_class(Path(root) / dataset, "*.wav")


def to_wav_bytes(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Samples -> WAV bytes, for playback of clips held in memory."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wave, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()

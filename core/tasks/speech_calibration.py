"""Calibrate a keyword spotter on a stream built from its test split: false rejections and false alarms per hour.

Test clips of keywords (and of other words) are placed at known times in background noise at a chosen
signal-to-noise ratio: the test split's `_silence_` recordings where the data has them (Speech Commands and the
bundled `commands`), recordings of your own noise, or generated pink noise. The model listens to the stream as
the Listen tab does (core.tasks.speech_streaming) and, for each threshold, the keywords it missed and the
detections that hit no keyword are counted: a DET-style curve (Edge Impulse's performance calibration), test data only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from core.eval.metrics import ci95_cluster_accuracy
from core.tasks.speech import sound_span
from core.tasks.speech_streaming import (
    HOP_SECONDS,
    REFRACTORY_SECONDS,
    SMOOTH_SECONDS,
    THRESHOLD,
    Placed,
    detect,
    hop_samples,
    in_words,
    is_keyword,
    match,
    poisson_rate_ci95,
    smooth,
    stream_posteriors,
)

SNR_DB = 10.0
NOISE_RMS = 0.02  # the background's level; each placed clip is scaled to the SNR above it
GAP_SECONDS = (1.0, 3.0)  # background alone between two placed clips, drawn uniformly
SEGMENT_SECONDS = 600.0  # a long stream is built and heard in pieces this long: bounded memory
THRESHOLDS = tuple(np.round(np.arange(0.02, 1.0, 0.02), 2))


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of pink (1/f power) noise at unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    return (noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)).astype(np.float32)


def noise_bed(n: int, rng: np.random.Generator, recordings: Sequence[np.ndarray] = ()) -> np.ndarray:
    """`n` samples of background at unit RMS: `recordings` cut in random pieces and overlap-added with Hann
    windows at half overlap (which sum to one, so no seams click), or pink noise when there are none."""
    if not len(recordings):
        return pink_noise(n, rng)
    piece = min(len(r) for r in recordings) // 2 * 2
    hann = np.hanning(piece + 1)[:piece]
    out = np.zeros(n + 2 * piece, np.float32)
    for start in range(0, n + piece, piece // 2):
        source = recordings[rng.integers(len(recordings))]
        offset = rng.integers(len(source) - piece + 1)
        out[start : start + piece] += source[offset : offset + piece] * hann
    out = out[piece // 2 : piece // 2 + n]
    return out / max(float(np.sqrt(np.mean(out**2))), 1e-12)


def synthesize_stream(
    clips: np.ndarray,
    labels: np.ndarray,
    keyword_classes: set[int],
    seconds: float,
    snr_db: float,
    sample_rate: int,
    rng: np.random.Generator,
    noise: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, list[Placed]]:
    """A `seconds`-long stream: the (N, L) `clips` placed one after another in turn (shuffled, each pass anew)
    with a gap of background between, each scaled so its sound over the background is `snr_db`; returns the
    stream and where each clip went (`Placed`)."""
    length = clips.shape[1]
    n = int(seconds * sample_rate)
    wave = NOISE_RMS * noise_bed(n, rng, noise)
    span = sound_span(torch.from_numpy(np.ascontiguousarray(clips))).numpy()
    power = (clips**2 * span).sum(1) / np.maximum(span.sum(1), 1)
    gain = NOISE_RMS * 10 ** (snr_db / 20) / np.sqrt(np.maximum(power, 1e-12))
    placed: list[Placed] = []
    order: list[int] = []
    at = rng.uniform(*GAP_SECONDS)
    while (at * sample_rate) + length <= n:
        if not order:
            order = list(rng.permutation(len(clips)))
        i = int(order.pop())
        start = int(at * sample_rate)
        wave[start : start + length] += gain[i] * clips[i]
        label = int(labels[i])
        placed.append(Placed(label, start / sample_rate, (start + length) / sample_rate, label in keyword_classes, i))
        at = (start + length) / sample_rate + rng.uniform(*GAP_SECONDS)
    peak = float(np.abs(wave).max())
    return (wave / peak * 0.99 if peak > 0.99 else wave).astype(np.float32), placed


def listen_in_segments(
    model: nn.Module, clips, labels, keyword_classes, hours, snr_db, meta, hop, seed, noise=()
) -> tuple[np.ndarray, np.ndarray, list[Placed], float]:
    """The whole stream heard in SEGMENT_SECONDS pieces: (times, posteriors, placed clips, seconds the model
    took), times and places running on across pieces."""
    rng = np.random.default_rng(seed)
    rate, window = meta["sample_rate"], meta["clip_samples"]
    total, offset, taken = hours * 3600.0, 0.0, 0.0
    times, probs, placed = [], [], []
    while offset < total - 1e-9:
        seconds = min(SEGMENT_SECONDS, total - offset)
        wave, where = synthesize_stream(clips, labels, keyword_classes, seconds, snr_db, rate, rng, noise)
        began = time.perf_counter()
        t, p = stream_posteriors(model, wave, window, hop_samples(hop, rate), rate)
        taken += time.perf_counter() - began
        times.append(t + offset)
        probs.append(p)
        placed += [Placed(w.label, w.start + offset, w.end + offset, w.keyword, w.clip) for w in where]
        offset += seconds
    return np.concatenate(times), np.concatenate(probs), placed, taken


def det_rows(
    times: np.ndarray,
    probs: np.ndarray,
    placed: list[Placed],
    keywords: list[int],
    hours: float,
    refractory: float,
    thresholds: Sequence[float],
    groups: np.ndarray,
) -> list[dict[str, Any]]:
    """For each threshold: keywords placed and missed, the false-rejection rate with its 95% interval (Wilson on
    the effective number of independent clips, `groups` of placed keywords going together), false alarms and
    false alarms per hour with its exact Poisson interval, and how many false alarms fired inside a placed word
    (a keyword heard as another, or another word heard as a keyword) rather than on background alone."""
    rows = []
    for threshold in thresholds:
        hit, alarms = match(detect(times, probs, keywords, float(threshold), refractory), placed)
        false_alarms = len(alarms)
        low, high = ci95_cluster_accuracy(hit, groups) if len(hit) else [float("nan")] * 2
        rows.append(
            {
                "threshold": float(threshold),
                "keywords": int(len(hit)),
                "missed": int((~hit).sum()),
                "frr": float(1 - hit.mean()) if len(hit) else float("nan"),
                "frr_ci95": [1 - high, 1 - low],
                "false_alarms": int(false_alarms),
                "fa_per_hour": false_alarms / hours,
                "fa_per_hour_ci95": poisson_rate_ci95(false_alarms, hours),
                "false_alarms_in_words": in_words(alarms, placed),  # the rest fired on background alone
            }
        )
    return rows


def calibrate(
    model: nn.Module,
    data,
    keywords: Sequence[str] | None = None,
    hours: float = 1.0,
    snr_db: float = SNR_DB,
    hop: float = HOP_SECONDS,
    smooth_seconds: float = SMOOTH_SECONDS,
    refractory: float = REFRACTORY_SECONDS,
    threshold: float = THRESHOLD,
    seed: int = 0,
    noise: Sequence[np.ndarray] | None = None,
    noise_name: str = "",
) -> dict[str, Any]:
    """The DET-style table of a model on a stream made from `data`'s test split (core.tasks.speech.SpeechData)
    and the row at the operating `threshold`. `keywords`: class names (default: every word class); the other
    word classes are placed too, as words it must not fire on. `noise`: recordings of background (default: the
    test split's `_silence_`-like clips, else pink noise)."""
    names = data.class_names
    keywords = list(keywords) if keywords else [c for c in names if is_keyword(c)]
    unknown = [k for k in keywords if k not in names]
    if unknown or not keywords:
        raise ValueError(f"keywords {', '.join(unknown) or '(none)'} not among the classes: {', '.join(names)}")
    ids = [names.index(k) for k in keywords]
    x, y = data.x["test"].numpy(), data.y["test"].numpy()
    words = np.array([is_keyword(names[c]) for c in y])
    if noise is None:
        noise = list(x[~words])
        noise_name = f"the test split's {', '.join(sorted({names[c] for c in y[~words]}))} clips ({len(noise)})"
        if not noise:
            noise_name = "generated pink noise"
    heard = listen_in_segments(model, x[words], y[words], set(ids), hours, snr_db, data.meta, hop, seed, noise)
    times, probs, placed, taken = heard
    probs = smooth(probs, max(1, round(smooth_seconds / hop)))
    kept = [p for p in placed if p.keyword]
    speakers = data.test_speakers[words] if data.test_speakers is not None else np.arange(words.sum()).astype(str)
    groups = np.array([speakers[p.clip] for p in kept])
    thresholds = sorted({*THRESHOLDS, float(threshold)})
    rows = det_rows(times, probs, placed, ids, hours, refractory, thresholds, groups)
    return {
        "dataset": data.name,
        "split": "test",
        "keywords": keywords,
        "hours": hours,
        "snr_db": snr_db,
        "noise": noise_name or "your noise recordings",
        "hop_seconds": hop,
        "smooth_seconds": smooth_seconds,
        "refractory_seconds": refractory,
        "keywords_placed": len(kept),
        "other_words_placed": len(placed) - len(kept),
        "distinct_keyword_clips": len({p.clip for p in kept}),
        "seconds_taken": taken,
        "times_real_time": hours * 3600 / taken if taken else float("inf"),
        "operating_point": next(r for r in rows if r["threshold"] == float(threshold)),
        "curve": rows,
    }


def real_time_factor(model: nn.Module, clip_samples: int, sample_rate: int, hop: float, seconds: float = 60.0) -> dict:
    """How much faster than real time `model` listens: a `seconds`-long stream of pink noise slid over with its
    window and `hop`; {"seconds_audio", "seconds_taken", "times_real_time"}."""
    wave = 0.05 * pink_noise(int(seconds * sample_rate), np.random.default_rng(0))
    stream_posteriors(model, wave[: clip_samples * 2], clip_samples, hop_samples(hop, sample_rate), sample_rate)
    began = time.perf_counter()
    stream_posteriors(model, wave, clip_samples, hop_samples(hop, sample_rate), sample_rate)
    taken = time.perf_counter() - began
    return {"seconds_audio": seconds, "seconds_taken": taken, "times_real_time": seconds / taken}

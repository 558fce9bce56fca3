"""Keyword spotting on a running stream: a clip model slid over long audio, posteriors smoothed, words detected.

A keyword spotter in use hears a stream, not clips: the trained model slides over it (its own clip length as
the window, a hop of 50-100 ms, windows batched), each keyword's posterior is smoothed over a few hops, a
detection fires where it passes a threshold, and a refractory time keeps one detection per spoken word. Its
quality is the false-rejection rate (keywords missed) and false alarms per hour (core.tasks.speech_calibration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import maximum_filter1d
from scipy.stats import chi2
from torch import nn

from core.data import DataError
from core.data.audio import decode, resample
from core.models.speech import LogMel

HOP_SECONDS = 0.1  # the default hop between windows
HOP_RANGE = (0.05, 0.1)
SMOOTH_SECONDS = 0.3  # moving average of the posteriors over this span (Chen et al. 2014 smooth over a few frames)
THRESHOLD = 0.5
REFRACTORY_SECONDS = 1.0  # after a detection, none for this long: one detection per spoken word
MAX_LISTEN_SECONDS = 30.0  # what the Listen tab takes, recorded or uploaded
BATCH = 128  # windows through the model at once: 128 one-second windows are 8 MB of float32


def is_keyword(name: str) -> bool:
    """Word classes are keywords; `_silence_`, `_unknown_` and the like are the absence of one."""
    return not name.startswith("_")


def load_stream(source: bytes | str, name: str, sample_rate: int, max_seconds: float = MAX_LISTEN_SECONDS):
    """A recording or an uploaded file -> float32 mono at `sample_rate`; longer than `max_seconds` is refused."""
    wave, rate = decode(source, name)
    if len(wave) > max_seconds * rate:
        raise DataError(f"{name}: {len(wave) / rate:.0f} s long; Listen takes up to {max_seconds:.0f} s")
    return resample(wave, rate, sample_rate).astype(np.float32)


def hop_samples(hop_seconds: float, sample_rate: int) -> int:
    return max(1, round(hop_seconds * sample_rate))


@torch.no_grad()
def stream_posteriors(
    model: nn.Module, wave: np.ndarray, window: int, hop: int, sample_rate: int, batch: int = BATCH, shared: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Slide `model` over `wave`: (times (T,), posteriors (T, classes)); time t is the centre of its window.

    The stream is padded with half a window of silence at each end, so the windows' centres cover it all. With
    `shared`, a model with a log-mel front end of its own gets its windows cut from the log-mel of the whole
    stream, computed once (spectrogram_windows), rather than each window's own.
    """
    model.eval()
    padded = torch.from_numpy(np.pad(np.asarray(wave, np.float32), (window // 2, window - window // 2)))
    specs = spectrogram_windows(model, padded, window, hop) if shared else None
    if specs is not None:
        windows, run = specs, model.classify
    else:
        windows, run = padded.unfold(0, window, hop), model  # (T, window), a view: no copy of the stream
    probs = [torch.softmax(run(windows[i : i + batch].contiguous()), 1) for i in range(0, len(windows), batch)]
    times = np.arange(len(windows)) * hop / sample_rate
    return times, torch.cat(probs).float().numpy()


def spectrogram_windows(model: nn.Module, padded: torch.Tensor, window: int, hop: int) -> torch.Tensor | None:
    """(T, bins, frames): each window's log-mel, cut from the whole stream's, for a model whose forward is
    `classify(logmel(wave))` (in eval) and a hop that is a whole number of its frames; else None.

    A window's frame j is the stream's frame (start / frame hop + j), so every frame is the one the window alone
    gives, except the two at each end, which hear the stream's real neighbours instead of a reflection of the
    window's edge. The spectrogram then costs a tenth at a 100-ms hop: half of the small models' time.
    """
    logmel = getattr(model, "logmel", None)
    if not isinstance(logmel, LogMel) or not hasattr(model, "classify"):
        return None
    step = logmel.mel.hop_length
    if hop % step:
        return None
    spec = logmel(padded[None])[0]  # (bins, stream frames)
    return spec.unfold(1, window // step + 1, hop // step).transpose(0, 1)  # (T, bins, frames)


def smooth(probs: np.ndarray, frames: int) -> np.ndarray:
    """Each class's posterior averaged over `frames` consecutive hops centred on each one (edges: what is there).

    Centred rather than causal, as the whole stream is at hand; a live spotter would lag half the span.
    """
    if frames <= 1:
        return probs
    kernel = np.ones(frames)
    before = (frames - 1) // 2
    total = np.stack([np.convolve(p, kernel, "full")[before : before + len(p)] for p in probs.T], 1)
    count = np.convolve(np.ones(len(probs)), kernel, "full")[before : before + len(probs)]
    return total / count[:, None]


@dataclass(frozen=True)
class Detection:
    time: float  # seconds into the stream: the centre of the window where the posterior peaked
    label: int  # the keyword's class index
    score: float  # its smoothed posterior there


def detect(
    times: np.ndarray, probs: np.ndarray, keywords: list[int], threshold: float, refractory: float
) -> list[Detection]:
    """Peaks of the best keyword's smoothed posterior that reach `threshold`, with that keyword.

    A peak is the highest point within `refractory` seconds either side, and a detection within `refractory`
    after a kept one is dropped: one detection per spoken word. A higher threshold only removes detections.
    """
    if not keywords or not len(times):
        return []
    scores = probs[:, keywords]
    best = scores.max(1)
    hop = float(times[1] - times[0]) if len(times) > 1 else 1.0
    reach = 2 * int(round(refractory / hop)) + 1
    peaks = np.flatnonzero((best >= threshold) & (best >= maximum_filter1d(best, reach, mode="nearest")))
    found: list[Detection] = []
    for i in peaks:
        if found and times[i] - found[-1].time < refractory:
            continue
        found.append(Detection(float(times[i]), keywords[int(scores[i].argmax())], float(best[i])))
    return found


@dataclass(frozen=True)
class Placed:
    """A clip placed in a synthesised stream: its class, where it sits, and which test clip it was."""

    label: int
    start: float
    end: float
    keyword: bool
    clip: int  # the test clip's index (a clip may be placed several times in a long stream)


def match(detections: list[Detection], truth: list[Placed]) -> tuple[np.ndarray, list[Detection]]:
    """(hit (keywords,) bool per placed keyword, the false alarms): a detection inside a placed keyword's span
    with its label hits it (each keyword once); any other detection is a false alarm."""
    keys = [p for p in truth if p.keyword]
    starts, ends = np.array([p.start for p in keys]), np.array([p.end for p in keys])
    hit = np.zeros(len(keys), bool)
    false_alarms = []
    for d in detections:
        free = [i for i in np.flatnonzero((starts <= d.time) & (d.time <= ends)) if keys[i].label == d.label]
        free = [i for i in free if not hit[i]]
        if free:
            hit[free[0]] = True
        else:
            false_alarms.append(d)
    return hit, false_alarms


def in_words(detections: list[Detection], truth: list[Placed]) -> int:
    """How many of `detections` lie inside a placed clip (a word heard as another), not in the background."""
    starts, ends = np.array([p.start for p in truth]), np.array([p.end for p in truth])
    return sum(bool(((starts <= d.time) & (d.time <= ends)).any()) for d in detections)


def poisson_rate_ci95(count: int, exposure: float) -> list[float]:
    """Exact (Garwood) 95% interval of a Poisson rate: `count` events over `exposure` (hours)."""
    low = chi2.ppf(0.025, 2 * count) / 2 if count > 0 else 0.0
    high = chi2.ppf(0.975, 2 * count + 2) / 2
    return [float(low / exposure), float(high / exposure)]

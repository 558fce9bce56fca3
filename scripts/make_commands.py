"""Generate the bundled keyword-spotting set `commands` with espeak-ng and numpy noise.

Files are named like Speech Commands, `<speaker>_nohash_<n>.wav`: the speaker is the espeak-ng voice with its
variant (`en-us+f2`), n counts that speaker's takes of the word. Loaders split by speaker (core/data/speakers.py),
so the test split's voices are never heard in training. Each `_silence_` clip is its own "speaker" (`noiseNNN`).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # exactly 1.0 s
MAX_WORD_SAMPLES = int(0.95 * CLIP_SAMPLES)  # leave a little room to move the word

# espeak-ng's own voices (the MBROLA ones need extra packages, so they are left out).
VOICES = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# "" is the voice's own default; the rest are espeak-ng variants appended as "+name".
VARIANTS = (
    "",
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "croak",
    "whisper",
)
SPEED_RANGE = (110, 210)  # words per minute (espeak-ng default 175)
PITCH_RANGE = (15, 85)  # 0-99 (default 50)
AMPLITUDE_RANGE = (60, 140)  # 0-200 (default 100)
SNR_DB_RANGE = (10.0, 30.0)  # word RMS over background RMS
PEAK_RANGE = (0.15, 0.9)  # final peak level after random gain


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("espeak-ng not found: apt-get install -y espeak-ng", file=sys.stderr)
        return 1
    out: Path = args.out
    classes = (*WORDS, SILENCE)
    counts: dict[str, int] = {}
    for index, name in enumerate(classes):
        rng = np.random.default_rng([args.seed, index])
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.wav"):
            old.unlink()
        if name == SILENCE:
            clips = [(f"noise{i:03d}", make_silence(rng)) for i in range(args.per_class)]
        else:
            clips = make_word_clips(name, args.per_class, rng)
        for file_name, clip in zip(file_names([speaker for speaker, _ in clips]), (c for _, c in clips)):
            write_wav(folder / file_name, clip)
        counts[name] = len(clips)
    print_summary(out, counts)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--per-class", type=int, default=32, help="clips per class (default 32)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("sample_data/commands"),
        help="output folder (default sample_data/commands)",
    )
    return parser.parse_args(argv)


# --- spoken words -------------------------------------------------------------------


def file_names(speakers: list[str]) -> list[str]:
    """`<speaker>_nohash_<n>.wav`, n counting each speaker's takes from 0 (Speech Commands' naming)."""
    takes: dict[str, int] = {}
    names = []
    for speaker in speakers:
        names.append(f"{speaker}_nohash_{takes.get(speaker, 0)}.wav")
        takes[speaker] = takes.get(speaker, 0) + 1
    return names


def make_word_clips(word: str, count: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Speak `word` `count` times: (speaker, clip) pairs; every voice is used about equally often per word."""
    voices = [VOICES[i % len(VOICES)] for i in range(count)]
    rng.shuffle(voices)
    clips = []
    for voice in voices:
        variant = VARIANTS[rng.integers(len(VARIANTS))]
        speed = int(rng.integers(SPEED_RANGE[0], SPEED_RANGE[1] + 1))
        pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
        amplitude = int(rng.integers(AMPLITUDE_RANGE[0], AMPLITUDE_RANGE[1] + 1))
        name = f"{voice}+{variant}" if variant else voice
        speech = speak_to_fit(word, name, speed, pitch, amplitude)
        clips.append((name, place_in_clip(speech, rng)))
    return clips


def speak_to_fit(word: str, voice: str, speed: int, pitch: int, amplitude: int) -> np.ndarray:
    """Speak the word, speeding up (then cropping) until it fits in MAX_WORD_SAMPLES."""
    for _ in range(5):
        speech = trim_silence(speak(word, voice, speed, pitch, amplitude))
        if len(speech) <= MAX_WORD_SAMPLES:
            return speech
        speed = int(speed * 1.25)
    return fade_out(speech[:MAX_WORD_SAMPLES])


def speak(word: str, voice: str, speed: int, pitch: int, amplitude: int) -> np.ndarray:
    """Run espeak-ng and return its speech as float32 mono at SAMPLE_RATE."""
    command = [
        "espeak-ng",
        "-v",
        voice,
        "-s",
        str(speed),
        "-p",
        str(pitch),
        "-a",
        str(amplitude),
        "--stdout",
        word,
    ]
    result = subprocess.run(command, capture_output=True, check=True)
    audio, rate = sf.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        divisor = np.gcd(rate, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // divisor, rate // divisor)
    return audio.astype(np.float32)


def trim_silence(audio: np.ndarray, threshold: float = 0.02, margin_s: float = 0.01) -> np.ndarray:
    """Cut leading and trailing samples quieter than `threshold` times the peak."""
    loud = np.flatnonzero(np.abs(audio) > threshold * np.abs(audio).max())
    margin = int(margin_s * SAMPLE_RATE)
    start = max(loud[0] - margin, 0)
    stop = min(loud[-1] + margin + 1, len(audio))
    return audio[start:stop]


def fade_out(audio: np.ndarray, fade_s: float = 0.02) -> np.ndarray:
    n = min(int(fade_s * SAMPLE_RATE), len(audio))
    audio = audio.copy()
    audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return audio


def place_in_clip(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put the speech at a random offset in 1 s of background noise at a random SNR."""
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    offset = int(rng.integers(0, CLIP_SAMPLES - len(speech) + 1))
    clip[offset : offset + len(speech)] = speech
    snr_db = rng.uniform(*SNR_DB_RANGE)
    noise_rms = rms(speech) / 10 ** (snr_db / 20)
    clip += noise_rms * background_noise(rng)
    return scale_to_peak(clip, rng.uniform(*PEAK_RANGE))


# --- background noise ---------------------------------------------------------------


def make_silence(rng: np.random.Generator) -> np.ndarray:
    """One `_silence_` clip: coloured noise, sometimes hum, sometimes near-silence."""
    level_db = rng.uniform(-65.0, -58.0) if rng.random() < 0.2 else rng.uniform(-50.0, -20.0)
    clip = background_noise(rng)
    if rng.random() < 0.3:
        clip += rng.uniform(0.1, 0.6) * hum(rng)
    clip *= slow_envelope(rng)
    return (clip / rms(clip) * 10 ** (level_db / 20)).astype(np.float32)


def background_noise(rng: np.random.Generator) -> np.ndarray:
    """A random mix of white, pink and brown noise with unit RMS."""
    weights = rng.dirichlet(np.ones(3))
    noise = sum(w * coloured_noise(rng, exponent) for w, exponent in zip(weights, (0, 1, 2)))
    return (noise / rms(noise)).astype(np.float32)


def coloured_noise(rng: np.random.Generator, exponent: int) -> np.ndarray:
    """Noise with power falling as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(CLIP_SAMPLES))
    freqs = np.fft.rfftfreq(CLIP_SAMPLES, d=1 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    spectrum *= freqs ** (-exponent / 2)
    spectrum[0] = 0.0  # no DC offset
    noise = np.fft.irfft(spectrum, n=CLIP_SAMPLES)
    return noise / rms(noise)


def hum(rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz) with a few decaying harmonics, unit RMS."""
    t = np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    base = 50.0 if rng.random() < 0.5 else 60.0
    wave = sum((0.5**k) * np.sin(2 * np.pi * base * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(4))
    return wave / rms(wave)


def slow_envelope(rng: np.random.Generator) -> np.ndarray:
    """A gentle level drift over the second (between 0.5 and 1.0 of full level)."""
    t = np.linspace(0.0, 1.0, CLIP_SAMPLES)
    phase = rng.uniform(0, 2 * np.pi)
    return 0.75 + 0.25 * np.sin(2 * np.pi * rng.uniform(0.2, 1.5) * t + phase)


# --- helpers ------------------------------------------------------------------------


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def scale_to_peak(audio: np.ndarray, peak: float) -> np.ndarray:
    return (audio * (peak / np.abs(audio).max())).astype(np.float32)


def write_wav(path: Path, audio: np.ndarray) -> None:
    assert audio.shape == (CLIP_SAMPLES,) and np.abs(audio).max() < 1.0, path
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")


def print_summary(out: Path, counts: dict[str, int]) -> None:
    for name, count in counts.items():
        print(f"{name:>10}: {count} clips")
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    print(f"total: {sum(counts.values())} clips, {size / 1e6:.1f} MB in {out}")


if __name__ == "__main__":
    sys.exit(main())

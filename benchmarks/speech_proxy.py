"""Speech on realistic recordings, a proxy: spoken digits from a few voices at 8 kHz, in train/ and test/ folders.

Run by hand: `.venv/bin/python benchmarks/speech_proxy.py [--takes 10] [--threads 1] [--keep DIR]`.

What it stands in for: recordings of a few people saying "zero" .. "nine" (like the free-spoken-digit set: 8 kHz,
each clip as long as the word, a room and a microphone per speaker), handed over as train/ and test/ folders
with different people in each. Here espeak-ng speaks, so the numbers are a proxy, not a claim about people:

- speakers: an espeak-ng voice with a variant (accent and timbre), each with its own usual speed and pitch,
  room (reverberation: the clip convolved with exponentially decaying noise, RT60 0.15-0.5 s, wet share
  0.2-0.5), microphone (a tilt of the spectrum) and background noise (white/pink/brown, 10-25 dB SNR);
  6 speakers in train/, 3 others in test/ (`TEST_SPEAKERS`: their voice *and* variant are never in train/);
  or, with `--protocol takes` (the free-spoken-digit set's own split), the 6 in both, new takes in test/;
- takes: every speaker says every digit `--takes` times, each take at its own speed (x0.85-1.15), pitch (+-10)
  and loudness, with 30-200 ms of room noise before and after: variable length, 8 kHz, 16-bit mono WAV;
- file names `<digit>_<speaker>_<n>.wav` (the free-spoken-digit naming), so the loader reads the speaker and
  carves validation out of train/ by whole speakers; test/ is never used for anything but the test.

Then, through the CLI as a user would, with no setting given: `python -m core train speech --data DIR --model
<the page's default> --json` and the same with `--model svm` (MFCC statistics + RBF SVM, C and gamma chosen on
the validation split), each in its own process (`--runs` points at a temporary run store). Prints test accuracy
with its 95% interval, macro-F1 and training seconds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, lfilter, resample_poly

from core.tasks.speech import SPEC, load_folder

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RATE = 8_000
TRAIN_SPEAKERS = {
    "usm1": "en-us+m1",
    "enf2": "en+f2",
    "scotm3": "en-gb-scotland+m3",
    "caribf1": "en-029+f1",
    "rpm7": "en-gb-x-rp+m7",
    "usf4": "en-us+f4",
}
TEST_SPEAKERS = {"lancm2": "en-gb-x-gbclan+m2", "nycf3": "en-us-nyc+f3", "walesm5": "en-gb-x-gbcwmd+m5"}


def speak(text: str, voice: str, speed: int, pitch: int, amplitude: int) -> np.ndarray:
    """espeak-ng's speech of `text`, trimmed of silence, as float32 at RATE."""
    command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude), "--stdout", text]
    spoken = subprocess.run(command, capture_output=True, check=True).stdout
    audio, rate = sf.read(io.BytesIO(spoken), dtype="float32", always_2d=True)
    audio = audio.mean(1)
    g = np.gcd(rate, RATE)
    audio = resample_poly(audio, RATE // g, rate // g)
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1].astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12


def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power falling as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    spectrum *= f ** (-exponent / 2)
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / rms(noise)


def make_speaker(rng: np.random.Generator) -> dict:
    """What stays the same across one speaker's takes: usual speed and pitch, room, microphone, background."""
    rt60 = rng.uniform(0.15, 0.5)
    t = np.arange(int(rt60 * RATE)) / RATE
    ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    ir[0] = 0.0
    return {
        "speed": int(rng.integers(130, 190)),
        "pitch": int(rng.integers(25, 75)),
        "ir": ir / np.sqrt(np.sum(ir**2)),
        "wet": rng.uniform(0.2, 0.5),
        "tilt": rng.uniform(-0.6, 0.6),  # first-order filter: < 0 brighter, > 0 duller
        "noise": rng.uniform(0.0, 2.0),  # colour exponent of the room's background
        "snr": rng.uniform(12.0, 22.0),
    }


def record(word: str, voice: str, speaker: dict, rng: np.random.Generator) -> np.ndarray:
    """One take: the word at this take's speed, pitch and level, in the speaker's room, microphone and noise."""
    speed = int(speaker["speed"] * rng.uniform(0.85, 1.15))
    pitch = int(np.clip(speaker["pitch"] + rng.integers(-10, 11), 0, 99))
    dry = speak(word, voice, speed, pitch, int(rng.integers(70, 131)))
    before, after = (int(rng.uniform(0.03, 0.2) * RATE) for _ in range(2))
    dry = np.concatenate([np.zeros(before), dry, np.zeros(after)])
    wet = fftconvolve(dry, speaker["ir"])[: len(dry)]
    x = (1 - speaker["wet"]) * dry + speaker["wet"] * wet / rms(wet) * rms(dry)
    x = lfilter([1 - abs(speaker["tilt"])], [1, -speaker["tilt"]], x) if speaker["tilt"] > 0 else x
    x = lfilter([1, speaker["tilt"]], [1], x) if speaker["tilt"] < 0 else x
    snr = speaker["snr"] + rng.uniform(-2.0, 2.0)
    x = x + coloured_noise(rng, len(x), speaker["noise"]) * rms(x) / 10 ** (snr / 20)
    return (x / np.abs(x).max() * rng.uniform(0.2, 0.9)).astype(np.float32)


def make_folder(root: Path, takes: int, seed: int, protocol: str = "speakers") -> dict[str, int]:
    """train/<digit>/<digit>_<speaker>_<n>.wav and test/<digit>/...: returns clips per split.

    "speakers": test/ is spoken by TEST_SPEAKERS only, never heard in train/. "takes": the free-spoken-digit
    set's own split, the six TRAIN_SPEAKERS in both, the first tenth of each one's takes in test/ (FSDD: 0-4 of
    50 takes, so `--takes 50` is its size, 3,000 clips).
    """
    counts = {"train": 0, "test": 0}
    if protocol == "speakers":
        groups = [("train", TRAIN_SPEAKERS, 0), ("test", TEST_SPEAKERS, 0)]
    else:
        groups = [("both", TRAIN_SPEAKERS, max(1, takes // 10))]
    for split, speakers, held in groups:
        for name, voice in speakers.items():
            own = TEST_SPEAKERS if name in TEST_SPEAKERS else TRAIN_SPEAKERS  # the same voice, room and takes
            rng = np.random.default_rng([seed, name in TEST_SPEAKERS, list(own).index(name)])
            speaker = make_speaker(rng)
            for digit in DIGITS:
                for n in range(takes):
                    where = split if split != "both" else ("test" if n < held else "train")
                    (root / where / digit).mkdir(parents=True, exist_ok=True)
                    clip = record(digit, voice, speaker, rng)
                    sf.write(root / where / digit / f"{digit}_{name}_{n}.wav", clip, RATE, subtype="PCM_16")
                    counts[where] += 1
    return counts


def train(folder: Path, model: str, runs: Path, threads: int, seed: int) -> dict:
    """`python -m core train speech --data folder --model model --json`: the CLI's JSON line."""
    command = [sys.executable, "-m", "core", "train", "speech", "--data", str(folder), "--model", model, "--json"]
    command += ["--runs", str(runs)] + (["--seed", str(seed)] if seed else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--takes", type=int, default=10, help="takes of each digit per speaker")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each training process")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds (the data stay the same)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the folder here (kept) instead of a temporary one")
    parser.add_argument(
        "--protocol",
        choices=("speakers", "takes"),
        default="speakers",
        help="speakers: test/ voices never heard in train/; takes: every voice in both, new takes in test/",
    )
    parser.add_argument("--models", default=f"{SPEC.default_model},svm")
    args = parser.parse_args()
    if args.protocol == "takes" and args.takes < 2:
        parser.error("--protocol takes needs --takes 2 or more (some for test/, the rest for train/)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "digits8k"
        if not (folder / "train").is_dir():
            counts = make_folder(folder, args.takes, args.data_seed, args.protocol)
            made = f"{counts['train']} train clips, {counts['test']} test clips"
            print(f"made {folder}: {made}, 8 kHz", file=sys.stderr)
        voices = f"train/ {', '.join(TRAIN_SPEAKERS.values())}; test/ {', '.join(TEST_SPEAKERS.values())}"
        if args.protocol == "takes":
            everyone = ", ".join(TRAIN_SPEAKERS.values())
            voices = f"{everyone} in both train/ and test/ (the first tenth of each one's takes in test/)"
        print(f"{args.threads} torch thread(s) per run; speakers: {voices}; {args.takes} takes of each digit each\n")
        print(f"split: {load_folder(folder).split_note}\n")
        print("| model | seed | test accuracy | 95% interval | macro-F1 | train seconds |")
        print("|---|---|---|---|---|---|")
        results: dict[str, list[dict]] = {}
        for seed in range(args.seeds):
            for model in args.models.split(","):
                out = train(folder, model, Path(tmp) / "runs", args.threads, seed)
                results.setdefault(model, []).append(out)
                low, high = out["ci95"]["accuracy"]
                m = out["metrics"]
                print(
                    f"| {model} | {seed} | {m['accuracy']:.4f} | [{low:.4f}, {high:.4f}] | {m['macro_f1']:.4f} "
                    f"| {out['seconds']:.1f} |",
                    flush=True,
                )
        default = SPEC.default_model
        if default in results and "svm" in results:
            acc = [r["metrics"]["accuracy"] for r in results[default]]
            svm = [r["metrics"]["accuracy"] for r in results["svm"]]
            secs = [r["seconds"] for r in results[default]]
            print(
                f"\n{default}: accuracy {min(acc):.4f}-{max(acc):.4f} (target >= 0.99: "
                f"{'met' if min(acc) >= 0.99 else 'not met'}), beats MFCC+SVM ({max(svm):.4f}) in every run: "
                f"{'yes' if all(a > max(svm) for a in acc) else 'no'}; training {max(secs):.1f} s at most "
                f"(target <= 60 s: {'met' if max(secs) <= 60 else 'not met'})"
            )


if __name__ == "__main__":
    main()

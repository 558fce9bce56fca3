"""A test recording of a running stream: words spoken by espeak-ng at known times in quiet pink noise."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from core.data.audio import SAMPLE_RATE
from core.tasks.speech_calibration import pink_noise

WORDS = {"yes": 4.0, "stop": 10.0, "no": 16.0}  # word -> where its middle is, seconds
SECONDS = 20.0


def spoken_stream(words: dict[str, float] = WORDS, seconds: float = SECONDS, voice: str = "en-us") -> np.ndarray:
    """`seconds` of pink noise at about -40 dBFS with each word (espeak-ng, trimmed) centred at its time."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from scripts.make_commands import speak_to_fit

    wave = 0.005 * pink_noise(int(seconds * SAMPLE_RATE), np.random.default_rng(0))
    for word, middle in words.items():
        speech = speak_to_fit(word, voice, 160, 50, 100)
        speech = 0.5 * speech / np.abs(speech).max()
        start = int(middle * SAMPLE_RATE) - len(speech) // 2
        wave[start : start + len(speech)] += speech
    return wave


def write_spoken_stream(path, **kw) -> str:
    sf.write(path, spoken_stream(**kw), SAMPLE_RATE, subtype="PCM_16")
    return str(path)

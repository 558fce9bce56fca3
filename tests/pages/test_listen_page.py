"""AppTest: the speech page's Listen tab slides a trained run over an uploaded recording, and Calibrate measures it."""

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from tests.support.apptest import open_page, open_tab

PAGE = "app_pages/speech.py"
COMMANDS = Path(__file__).resolve().parents[2] / "sample_data" / "commands"


def stream_of_bundled_words(seconds: float = 20.0) -> bytes:
    """A WAV of bundled clips of yes, stop and no at 4, 10 and 16 s in quiet noise."""
    rate = 16_000
    wave = 0.003 * np.random.default_rng(0).standard_normal(int(seconds * rate)).astype(np.float32)
    for word, middle in (("yes", 4.0), ("stop", 10.0), ("no", 16.0)):
        clip, _ = sf.read(sorted((COMMANDS / word).glob("*.wav"))[0], dtype="float32")
        start = int(middle * rate) - len(clip) // 2
        wave[start : start + len(clip)] += clip
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def listen_page():
    config = make_config("speech", "cnn", epochs=1, max_batches=2, baseline=False)
    run_id = run_experiment(config, RunStore(os.environ["DLSTUDIO_RUNS"])).run_id
    at = open_page(PAGE)
    at.session_state["speech_run"] = run_id
    at.run()
    return open_tab(at, "speech", "Listen")


def detections_line(at) -> str:
    return next(m.value for m in at.markdown if "detection" in m.value and " in 20.0 s" in m.value)


def test_listen_finds_detections_on_an_upload_and_the_threshold_moves_them():
    at = listen_page()
    assert any("Record or upload a recording" in c.value for c in at.caption)
    at.file_uploader(key="speech_listen_file").set_value(("talk.wav", stream_of_bundled_words(), "audio/wav")).run()
    assert not at.exception, at.exception
    assert any("faster than real time" in c.value for c in at.caption)
    at.slider(key="speech_listen_threshold").set_value(0.05).run()
    low = int(detections_line(at).strip("*").split()[0])
    at.slider(key="speech_listen_threshold").set_value(0.99).run()
    high = int(detections_line(at).strip("*").split()[0])
    assert low >= 1 and high <= low  # an untrained model fires somewhere at 0.05; 0.99 only removes detections
    at.file_uploader(key="speech_listen_file").set_value(("notes.wav", b"not audio", "audio/wav")).run()
    assert any("notes.wav: not a readable audio file" in e.value for e in at.error)


def test_calibrate_shows_false_rejections_and_false_alarms_per_hour():
    at = listen_page()
    at.multiselect(key="speech_cal_keywords").set_value([]).run()
    assert any("at least one keyword" in i.value for i in at.info)
    at.multiselect(key="speech_cal_keywords").set_value(["yes", "no"]).run()
    at.slider(key="speech_cal_minutes").set_value(1).run()
    at.button(key="speech_cal_btn").click().run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert {"False rejections", "False alarms per hour", "Faster than real time"} <= set(labels)
    assert any("95% interval" in c.value for c in at.caption)
    assert any("test split" in c.value and "SNR" in c.value for c in at.caption)
    assert any("other words" in c.value for c in at.caption)  # the eight words not chosen are placed as such

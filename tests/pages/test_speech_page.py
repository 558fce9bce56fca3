"""AppTest: the speech page loads, trains the default setup to a confusion matrix, and names bad input."""

import io

import numpy as np
import soundfile as sf

from core.models import get_spec
from tests.support.apptest import has_confusion_matrix, open_page, rerun_until

PAGE = "app_pages/speech.py"


def test_the_page_opens_on_commands_with_the_default_model_and_its_settings():
    at = open_page(PAGE)
    assert at.selectbox(key="speech_dataset").value == "commands"
    model = at.selectbox(key="speech_model").value
    assert model == "crnn_attention"
    assert at.number_input(key="speech_epochs").value == get_spec("speech", model).defaults["epochs"]
    assert at.slider(key="speech_aug_shift").value == get_spec("speech", model).augment["shift"]
    assert at.slider(key="speech_aug_time_mask").value == get_spec("speech", model).augment["time_mask"]
    assert any("11 classes" in c.value for c in at.caption)
    assert not at.button(key="speech_train_btn").disabled


def test_model_change_loads_its_recommended_settings():
    at = open_page(PAGE)
    at.selectbox(key="speech_model").select("kwt").run()
    assert at.number_input(key="speech_epochs").value == get_spec("speech", "kwt").defaults["epochs"]
    assert at.number_input(key="speech_lr").value == get_spec("speech", "kwt").defaults["lr"]


def test_training_the_default_configuration_shows_results():
    at = open_page(PAGE)
    at.number_input(key="speech_epochs").set_value(2).run()
    at.button(key="speech_train_btn").click().run()
    rerun_until(at, has_confusion_matrix, timeout=60)
    labels = [m.label for m in at.metric]
    assert {"Test accuracy", "Macro-F1", "Parameters", "Size", "Latency per 1-s clip"} <= set(labels)
    report = at.dataframe[0].value
    assert list(report.columns) == ["precision", "recall", "f1-score", "support"]
    assert {"yes", "off", "up", "macro avg"} <= set(report.index)
    assert [t.label for t in at.tabs][:3] == ["Overview", "Worst mistakes", "Try it"]


def test_a_bad_folder_shows_an_error_naming_the_file(tmp_path):
    for word in ("yes", "no"):
        (tmp_path / "mine" / word).mkdir(parents=True)
        for i in range(6):
            sf.write(tmp_path / "mine" / word / f"{word}_{i}.wav", np.zeros(1600, np.float32) + 0.1, 16_000)
    (tmp_path / "mine" / "no" / "broken.wav").write_bytes(b"RIFF this is not audio")
    at = open_page(PAGE)
    at.selectbox(key="speech_dataset").select("your own (.zip or folder)").run()
    at.text_input(key="speech_folder").input(str(tmp_path / "mine")).run()
    assert not at.exception
    assert any("broken.wav" in e.value for e in at.error)
    assert at.button(key="speech_train_btn").disabled
    at.text_input(key="speech_folder").input(str(tmp_path / "nowhere")).run()
    assert any("no such file or folder" in e.value for e in at.error)
    (tmp_path / "mine" / "no" / "broken.wav").unlink()
    for word in ("yes", "no"):  # telephone-band recordings: the page says what they can hold
        sf.write(tmp_path / "mine" / word / f"{word}_8k.wav", np.zeros(800, np.float32) + 0.1, 8_000)
    at.text_input(key="speech_folder").input(str(tmp_path / "mine")).run()
    assert any("recorded at 8 kHz: nothing above 4 kHz" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any("(40 bins, 0-4 kHz, 10 ms frames)" in m.value for m in at.markdown)  # the bands the models will use


def test_the_split_and_its_warnings_show_before_training(tmp_path):
    """Speech Commands' extras: the page says what the split will be, what was left out, and what is not tested."""
    for split, words in (("train", ("yes", "no")), ("test", ("yes",))):
        for word in words:
            (tmp_path / "mine" / split / word).mkdir(parents=True)
            for i in range(4):
                wave = 0.3 * np.sin(2 * np.pi * (300 + 40 * i) * np.arange(8000) / 16_000)
                sf.write(tmp_path / "mine" / split / word / f"{word}_{i}.wav", wave, 16_000)
    at = open_page(PAGE)
    at.selectbox(key="speech_dataset").select("your own (.zip or folder)").run()
    at.text_input(key="speech_folder").input(str(tmp_path / "mine")).run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Split: test: your test/ folder; validation: 1/8 of your train/ folder") for c in captions)
    warnings = [w.value for w in at.warning]
    assert "No test examples of no, so accuracy on them is not measured" in warnings
    assert any(w.startswith("Speakers not found in file names") for w in warnings)  # yes_0.wav names no speaker
    assert len(warnings) == 2


def test_saved_recordings_are_offered_as_a_dataset(tmp_path):
    root = tmp_path / "user_data" / "recordings" / "my_words"
    for word, freq in (("high", 880.0), ("low", 220.0)):
        (root / word).mkdir(parents=True)
        for i in range(6):
            t = np.arange(12_000) / 16_000
            sf.write(root / word / f"clip_{i + 1}.wav", 0.3 * np.sin(2 * np.pi * freq * (1 + i / 50) * t), 16_000)
    at = open_page(PAGE)
    at.selectbox(key="speech_dataset").select("your recordings").run()
    assert at.selectbox(key="speech_recording").value == "my_words"
    assert any("2 classes" in c.value for c in at.caption)
    assert not at.button(key="speech_train_btn").disabled


def test_recording_needs_two_safe_words():
    at = open_page(PAGE)
    at.text_input(key="speech_rec_words").input("yes, ../etc").run()
    assert any("not a usable word name" in e.value for e in at.error)
    at.text_input(key="speech_rec_words").input("yes, no").run()
    assert at.button(key="speech_rec_save_btn").disabled


def test_kept_recordings_are_saved_as_a_dataset_and_selected(tmp_path):
    def wav(freq: float) -> bytes:
        t = np.arange(12_000) / 48_000
        buffer = io.BytesIO()
        sf.write(buffer, 0.3 * np.sin(2 * np.pi * freq * t), 48_000, format="WAV")  # a browser records at 48 kHz
        return buffer.getvalue()

    at = open_page(PAGE)
    at.text_input(key="speech_rec_words").input("high, low").run()
    at.session_state["speech_rec_clips"] = {
        "high": [wav(880 + i) for i in range(6)],
        "low": [wav(220 + i) for i in range(6)],
    }
    at.run()
    at.button(key="speech_rec_save_btn").click().run()
    assert not at.exception
    folder = tmp_path / "user_data" / "recordings" / "my_words"
    assert sorted(p.name for p in folder.iterdir()) == ["high", "low"]
    assert len(list((folder / "low").glob("clip_*.wav"))) == 6
    assert sf.info(folder / "low" / "clip_1.wav").samplerate == 16_000
    assert at.selectbox(key="speech_dataset").value == "your recordings"
    assert at.selectbox(key="speech_recording").value == "my_words"
    assert any("Saved: 12 clips" in s.value for s in at.success)
    assert not at.button(key="speech_train_btn").disabled

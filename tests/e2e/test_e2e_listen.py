"""End to end in headless Chromium: train a keyword spotter, then Listen to an uploaded 20-s recording in which
espeak-ng says three words between stretches of quiet noise, and see each word found where it was said."""

import re

from playwright.sync_api import expect

from tests.support.browser import app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)
from tests.support.spoken_stream import WORDS, write_spoken_stream

EPOCHS = 30  # the CNN learns the bundled words in 30 epochs (about 15 s on two quiet cores)


def test_listen_finds_three_spoken_words_in_an_uploaded_stream(app_server, page, tmp_path):  # noqa: F811
    talk = write_spoken_stream(tmp_path / "talk.wav")
    page.goto(f"{app_server}/speech?model=cnn&epochs={EPOCHS}")
    page.get_by_text("11 classes", exact=False).wait_for(timeout=90_000)  # the first run of a page imports torch
    expect(page.get_by_label("Epochs")).to_have_value(str(EPOCHS), timeout=15_000)
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Confusion matrix").wait_for(timeout=400_000)
    page.get_by_role("tab", name="Listen").click()
    page.get_by_text("Record or upload a recording").wait_for()
    page.get_by_role("tab", name="Upload").click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(talk)
    page.get_by_text("3 detections in 20.0 s").wait_for(timeout=60_000)
    for word, middle in WORDS.items():
        found = page.get_by_text(re.compile(rf"^{word} at [\d.]+ s")).inner_text()
        assert abs(float(re.search(r"at ([\d.]+) s", found).group(1)) - middle) <= 0.5, found
    assert page.locator('[data-testid="stAudio"]').count() >= 3  # each detection's window plays back
    page.get_by_text("faster than real time", exact=False).first.wait_for()
    page.locator(".js-plotly-plot:visible").first.wait_for()
    screenshot(page, "speech_listen", full_page=True)
    page.get_by_text("Calibrate: false rejections and false alarms per hour").click()
    page.get_by_role("button", name="Calibrate", exact=True).click()
    metrics = page.locator('[data-testid="stMetric"]')
    metrics.filter(has_text="False alarms per hour").wait_for(timeout=180_000)
    assert "%" in metrics.filter(has_text="False rejections").inner_text()
    page.get_by_text("95% interval [", exact=False).first.wait_for()
    page.locator(".js-plotly-plot:visible").nth(1).wait_for()  # the DET-style curve
    screenshot(page, "speech_calibrate", full_page=True)

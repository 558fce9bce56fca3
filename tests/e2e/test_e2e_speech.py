"""End to end in headless Chromium: open the speech page, train a keyword spotter, see the results, try a file."""

import re

from playwright.sync_api import expect

from tests.support.browser import ROOT, app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)


def test_train_on_commands_and_see_the_results(app_server, page):  # noqa: F811
    # a shared link sets the model and epochs; the CNN keeps this test short on a busy CPU, where the
    # GRU's many small steps of the default model crawl
    page.goto(f"{app_server}/speech?model=cnn&epochs=2")
    page.get_by_text("1 · Data").wait_for(timeout=60_000)  # the first run of a page imports torch
    page.get_by_text("11 classes", exact=False).wait_for(timeout=60_000)
    expect(page.get_by_label("Epochs")).to_have_value("2", timeout=15_000)  # from the link
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Confusion matrix").wait_for(timeout=90_000)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")
    value = float(re.search(r"([\d.]+)%", metric.inner_text()).group(1))
    assert 0 <= value <= 100
    for label in ("Macro-F1", "Parameters", "Latency"):
        page.locator('[data-testid="stMetric"]').filter(has_text=label).wait_for()
    page.locator(".js-plotly-plot:visible").nth(1).wait_for()  # curves and the confusion matrix
    page.get_by_text("Classification report").wait_for()
    screenshot(page, "speech_results")
    page.get_by_role("tab", name="Worst mistakes").click()
    page.get_by_text("got wrong with the most confidence").or_(page.get_by_text("No mistakes")).first.wait_for()
    page.get_by_role("tab", name="Try it").click()
    page.get_by_text("Record a word or upload a clip").wait_for()
    page.get_by_role("tab", name="Upload").click()
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    uploader.set_input_files(files=[{"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"not audio at all"}])
    page.get_by_text("notes.wav: not a readable audio file").wait_for()
    uploader.set_input_files(str(ROOT / "sample_data" / "commands" / "yes" / "en-gb-scotland+f2_nohash_0.wav"))
    page.get_by_text("Prediction:").wait_for()
    page.get_by_text("Where it listened").wait_for()
    screenshot(page, "speech_try_it")

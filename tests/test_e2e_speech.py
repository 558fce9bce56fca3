"""End to end in headless Chromium: open the speech page, train a keyword spotter, see the results."""

import re

from tests.e2e import app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)


def test_train_on_commands_and_see_the_results(app_server, page):  # noqa: F811
    page.goto(f"{app_server}/speech")
    page.get_by_text("1 · Data").wait_for()
    page.get_by_text("11 classes").wait_for()
    epochs = page.get_by_label("Epochs")
    epochs.fill("3")
    epochs.press("Enter")
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Confusion matrix").wait_for(timeout=90_000)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")
    value = float(re.search(r"([\d.]+)%", metric.inner_text()).group(1))
    assert 0 <= value <= 100
    for label in ("Macro-F1", "Parameters", "Latency"):
        page.locator('[data-testid="stMetric"]').filter(has_text=label).wait_for()
    page.locator(".js-plotly-plot").nth(1).wait_for()  # curves and the confusion matrix
    page.get_by_text("Classification report").wait_for()
    screenshot(page, "speech_results")
    page.get_by_role("tab", name="Worst mistakes").click()
    page.get_by_text("got wrong with the most confidence").or_(page.get_by_text("No mistakes")).first.wait_for()
    page.get_by_role("tab", name="Try it").click()
    page.get_by_text("Record a word or upload a clip").wait_for()

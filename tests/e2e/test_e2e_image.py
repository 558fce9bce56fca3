"""End to end in headless Chromium: open the image page, train, see the results, try a drawing."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)


def test_train_on_digits_and_see_the_results(app_server, page):  # noqa: F811
    page.goto(f"{app_server}/image")
    page.get_by_text("1 · Data").wait_for()
    epochs = page.get_by_label("Epochs")
    epochs.fill("4")
    epochs.press("Enter")
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Confusion matrix").wait_for(timeout=90_000)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")
    value = float(re.search(r"([\d.]+)%", metric.inner_text()).group(1))
    assert value > 80
    page.locator(".js-plotly-plot").nth(1).wait_for()  # curves and the confusion matrix
    page.get_by_text("Classification report").wait_for()
    screenshot(page, "image_results")
    page.get_by_role("tab", name="Worst mistakes").click()
    page.get_by_text("got wrong with the most confidence").wait_for()
    # leave and come back: the result is still there
    page.get_by_role("link", name="Home").first.click()
    page.get_by_text("Latest runs").wait_for()
    page.get_by_role("link", name="Image recognition").first.click()
    page.get_by_text("got wrong with the most confidence").wait_for()  # on the tab it was left on
    expect(page.get_by_role("tab", name="Worst mistakes")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Overview").click()
    page.get_by_text("Confusion matrix").wait_for()
    expect(page.get_by_label("Epochs")).to_have_value("4", timeout=15_000)


@pytest.mark.slow
def test_lassoing_points_on_the_map_lists_those_images(app_server, page):  # noqa: F811
    """A lasso drawn round the middle of the Map lists the images inside it, with true and predicted class."""
    page.goto(f"{app_server}/image")
    page.get_by_text("1 · Data").wait_for()
    epochs = page.get_by_label("Epochs")
    epochs.fill("2")
    epochs.press("Enter")
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Confusion matrix").wait_for(timeout=90_000)
    page.get_by_role("tab", name="Map").click()
    page.get_by_text("Select points (lasso or box)").wait_for(timeout=60_000)
    box = page.locator(".js-plotly-plot .nsewdrag").last.bounding_box()  # the plot area (dragmode: lasso)
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.2 * w, y0 + 0.2 * h)
    page.mouse.down()
    for fx, fy in ((0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.21)):
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=8)
    page.mouse.up()
    page.get_by_text(re.compile(r"selected\*?\*? \(the first")).first.wait_for(timeout=60_000)
    captions = [c for c in page.locator('[data-testid="stImageCaption"]').all_inner_texts() if c.startswith("#")]
    assert captions and all("✓" in c or "→" in c for c in captions)  # the data preview's captions are the classes
    screenshot(page, "map_selection", full_page=True)

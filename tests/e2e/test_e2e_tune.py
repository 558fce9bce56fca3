"""End to end in headless Chromium: Tune on digits from a shared link shows trials, Optuna's plots and a best run."""

from tests.support.browser import app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)

LINK = "/whatif?model=mlp&epochs=2&tune_settings=lr&tune_settings=batch_size&tune_trials=4&tune_range_lr=0.001:0.01:log"


def test_tune_on_digits_shows_trials_and_a_best_run(app_server, page):  # noqa: F811
    page.goto(app_server + LINK)
    page.get_by_text("Settings to search").wait_for()
    page.get_by_role("button", name="Tune", exact=True).click()
    page.get_by_text("Best: trial", exact=False).wait_for(timeout=480_000)
    tune = page.locator('[data-testid="stDataFrame"]').last
    tune.wait_for()
    page.get_by_role("tab", name="Optimisation history").wait_for()
    assert page.locator(".js-plotly-plot").count() >= 1  # Optuna's own figure
    assert "test accuracy" in page.get_by_text("Best: trial", exact=False).inner_text()
    screenshot(page, "tune", full_page=True)
    page.get_by_role("link", name="Open the best run on the Runs page", exact=False).click()
    page.get_by_text("python -m core train image", exact=False).first.wait_for()  # the run's command to copy

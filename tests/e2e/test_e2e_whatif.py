"""End to end in headless Chromium: open a shared What-if link, race two optimizers, read the verdict, compare."""

import re

from core.run.lr_search import OWN_LR_NOTE
from tests.support.browser import app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)

LINK = "/whatif?model=mlp&epochs=3&seeds=2&axis1=optimizer&values_optimizer=sgd&values_optimizer=adam"


def test_race_two_optimizers_and_read_the_verdict(app_server, page):  # noqa: F811
    page.goto(app_server + LINK)
    page.get_by_text("3 · Race").wait_for()
    page.get_by_text("2 variants × 2 seed(s) = 4 runs").wait_for()  # the link's setup, not the defaults
    page.get_by_text("20 short runs more", exact=False).wait_for()  # each variant at its own best learning rate
    page.get_by_role("button", name="Race", exact=True).click()
    page.get_by_text("Verdict", exact=True).wait_for(timeout=240_000)
    summary = page.locator('[data-testid="stAlert"]').filter(has_text="won with accuracy").inner_text()
    at_best = r"at its best lr [\d.e-]+(?: or [\d.e-]+ \(by seed\))?"
    match = re.search(rf"(SGD|Adam) {at_best} won with accuracy ([\d.]+)% \(mean of 2 seeds", summary)
    assert match, summary
    loser = "Adam" if match.group(1) == "SGD" else "SGD"
    assert re.search(rf"(ahead of|below) {loser} {at_best}", summary) and "bootstrap over seeds and test" in summary
    page.get_by_text(OWN_LR_NOTE).wait_for()  # why, in one sentence beside the verdict
    page.locator(".js-plotly-plot").nth(1).wait_for()  # the accuracy-vs-cost chart and the curves
    assert page.get_by_text("None running.").is_visible()  # the sidebar's job list has caught up
    screenshot(page, "whatif_results")
    page.get_by_role("link", name="Compare these runs side by side on the Runs page").click()
    page.get_by_text("Comparing 4 runs").wait_for()
    page.get_by_text("Training curves").wait_for()
    page.get_by_text("python -m core train image --model mlp").wait_for()  # the command to copy
    page.get_by_role("button", name="Download HTML report").wait_for()
    assert page.locator(".js-plotly-plot").count() >= 5  # the curves and four confusion matrices
    screenshot(page, "runs_compare", full_page=True)

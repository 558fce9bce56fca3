"""End to end in headless Chromium: open the Recommendation page, train, read the metrics and a user's top-10."""

import re

from tests.support.browser import app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)


def test_train_a_recommender_and_see_a_users_top10(app_server, page):  # noqa: F811
    page.goto(f"{app_server}/recsys")
    page.get_by_text("1 · Data").wait_for()
    page.get_by_text("943 users · 1,682 items").wait_for()
    page.get_by_role("button", name="Train").click()
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="NDCG@10")
    metric.wait_for(timeout=60_000)
    ndcg = float(re.search(r"NDCG@10\s*([\d.]+)", metric.inner_text()).group(1))
    assert ndcg > 0.2
    page.get_by_text("Top-10 ranking").wait_for()  # the protocol, next to the numbers
    page.locator(".js-plotly-plot").first.wait_for()
    page.get_by_role("tab", name="For a user").click()
    page.get_by_text(re.compile(r"\d+ of them are among the user")).wait_for()
    tables = page.locator('[data-testid="stTabPanel"]:visible [data-testid="stDataFrame"] canvas')
    tables.nth(1).wait_for()  # the history and the top-10, drawn
    page.wait_for_timeout(500)
    screenshot(page, "recsys_results")
    page.get_by_role("tab", name="Item map").click()
    page.locator('[data-testid="stTabPanel"]:visible .js-plotly-plot').first.wait_for()

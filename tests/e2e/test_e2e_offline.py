"""End to end in headless Chromium: no request leaves the machine on any page, and there is no Deploy button.

Every request the browser makes (page, scripts, fonts, icons, charts, websockets) is recorded while every page is
opened and drawn; any whose host is not this machine fails the test.
"""

from urllib.parse import urlparse

from tests.support.browser import app_server, browser, page, screenshot  # noqa: F401  (pytest fixtures)

LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAGES = {  # url path -> text that shows the page has drawn
    "": "Latest runs",
    "image": "1 · Data",
    "speech": "1 · Data",
    "recsys": "1 · Data",
    "whatif": "1 · Base setup",
    "learn": "How it learns",
    "runs": "Runs",
}


def outside(urls: list[str]) -> list[str]:
    """The URLs that would leave the machine (data: and blob: URLs never do)."""
    return [u for u in urls if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname not in LOCAL]


def test_outside_picks_only_non_local_hosts():
    urls = ["http://127.0.0.1:8501/x", "ws://localhost:1/_stcore/stream", "data:image/png;base64,AA", "blob:x"]
    assert outside(urls) == []
    assert outside(["https://fonts.gstatic.com/s/x.svg"]) == ["https://fonts.gstatic.com/s/x.svg"]


def test_no_page_makes_a_request_off_this_machine(app_server, page):  # noqa: F811
    requests: list[str] = []
    failures: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failures.append(f"{r.url} ({r.failure})"))
    page.on("websocket", lambda ws: requests.append(ws.url))
    for path, marker in PAGES.items():
        page.goto(f"{app_server}/{path}")
        page.get_by_text(marker).first.wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)  # icons, fonts and charts that load after the first draw
    for section in ("optimizers", "convolution"):  # the learn page's charts, opened by link
        page.goto(f"{app_server}/learn?section={section}")
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
    screenshot(page, "offline_learn")
    assert len(requests) > 20 and any("/_stcore/stream" in u for u in requests)
    assert outside(requests) == [], outside(requests)
    assert not [f for f in failures if "ERR_NAME_NOT_RESOLVED" in f], failures
    favicon = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert favicon and outside(favicon) == [], favicon


def test_there_is_no_deploy_button(app_server, page):  # noqa: F811
    page.goto(app_server)
    page.get_by_text("Latest runs").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.get_by_text("Deploy", exact=True).count() == 0
    screenshot(page, "offline_home_toolbar")

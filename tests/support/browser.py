"""End-to-end fixtures: the real app served on a free port, driven by headless Chromium (Playwright)."""

from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, AppDidNotStart, serve_app

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """`streamlit run app.py` with its own run store; yields the base URL."""
    try:
        with serve_app(tmp_path_factory.mktemp("e2e"), timeout=60) as url:
            yield url
    except AppDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def screenshot(page, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if full_page:  # Streamlit scrolls inside its own container, so grow the window to the content instead
        height = page.evaluate(
            "() => Math.max(document.body.scrollHeight,"
            " ...[...document.querySelectorAll('[data-testid=stMain]')].map(e => e.scrollHeight))"
        )
        page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(500)  # let charts finish their first draw
    page.screenshot(path=str(path))
    return path

"""Helpers for AppTest-driven page tests: open a page through app.py and wait for background jobs."""

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_page(page: str | None = None, timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def rerun_until(at: AppTest, done, timeout: float = 120) -> AppTest:
    """The live view refreshes itself in a browser; here we rerun until `done(at)` holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
    raise AssertionError("timed out waiting for the page")


def has_confusion_matrix(at: AppTest) -> bool:
    return any(m.value == "**Confusion matrix** (test split)" for m in at.markdown)


def open_tab(at: AppTest, results_key: str, label: str) -> AppTest:
    """Open a results panel's tab (lazy tabs: only the open one runs), as a click on it does in a browser."""
    assert label in [t.label for t in at.tabs], [t.label for t in at.tabs]
    at.session_state[f"{results_key}_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at

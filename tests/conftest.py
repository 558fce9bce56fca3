"""Shared fixtures: every test gets its own run store and user-data folder."""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.support.offline_hub"]  # fixtures some test modules take by name


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DLSTUDIO_USER_DATA", str(tmp_path / "user_data"))
    monkeypatch.setenv("DLSTUDIO_DATA_ROOTS", str(tmp_path))  # the test's own folders count as data folders
    monkeypatch.delenv("DLSTUDIO_DB_URL", raising=False)  # the store folder's runs.db unless a test says otherwise
    monkeypatch.delenv("DLSTUDIO_ARTIFACTS_URL", raising=False)
    monkeypatch.chdir(ROOT)
    yield


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster for the session (tests/support/postgres.py); skipped where none is installed."""
    from tests.support.postgres import Cluster, postgres_bin

    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs it: apt-get install postgresql)")
    cluster = Cluster(bindir).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):
    """The run store's database for a test run on both backends: None (the folder's runs.db) or a fresh
    PostgreSQL database; pass it as RunStore(..., db_url=store_url)."""
    if request.param == "sqlite":
        yield None
        return
    yield request.getfixturevalue("postgres_cluster").url()
    from core.run.store import forget_engines

    forget_engines()  # the test's database is not used again: close its pooled connections


os.environ.setdefault("OMP_NUM_THREADS", "2")

BROWSER_FIXTURES = {"app_server", "browser", "page"}  # tests/support/browser.py: the app served, in Chromium


def _kind(item: pytest.Item) -> str:
    """e2e (drives Chromium), app (drives a page through AppTest) or unit: read from what the test uses."""
    if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "e2e"
    module = getattr(item, "module", None)
    if module is not None and any(name in vars(module) for name in ("AppTest", "open_page")):
        return "app"
    return "unit"


# Each test's last measured time (its setup, call and teardown), written by a run with DLSTUDIO_RECORD_DURATIONS=1
# (bash scripts/test.sh records them): a test over SLOW_SECONDS is `slow`, so the fast part stays fast as tests are
# added. A test not measured yet counts as fast until the next recording.
DURATIONS = ROOT / "tests" / "durations.json"
SLOW_SECONDS = 0.5
_measured: dict[str, float] = {}


def _recorded() -> dict[str, float]:
    try:
        return json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(config, items):
    """Every test gets one kind marker (unit, app, e2e), and `slow` from its recorded time, so
    `-m "not e2e and not slow"` selects the fast part."""
    recorded = _recorded()
    for item in items:
        item.add_marker(_kind(item))
        if recorded.get(item.nodeid, 0.0) > SLOW_SECONDS and not item.get_closest_marker("slow"):
            item.add_marker("slow")


def pytest_runtest_logreport(report):
    if os.environ.get("DLSTUDIO_RECORD_DURATIONS"):  # setup, call and teardown together
        _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    """With DLSTUDIO_RECORD_DURATIONS=1, merge this run's times into tests/durations.json (other tests kept)."""
    if not os.environ.get("DLSTUDIO_RECORD_DURATIONS") or not _measured:
        return
    merged = {**_recorded(), **{k: round(v, 3) for k, v in _measured.items()}}
    DURATIONS.write_text(json.dumps(dict(sorted(merged.items())), indent=0) + "\n")

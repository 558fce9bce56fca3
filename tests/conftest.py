"""Shared fixtures: every test gets its own run store and user-data folder."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DLSTUDIO_USER_DATA", str(tmp_path / "user_data"))
    monkeypatch.setenv("DLSTUDIO_DATA_ROOTS", str(tmp_path))  # the test's own folders count as data folders
    monkeypatch.chdir(ROOT)
    yield


os.environ.setdefault("OMP_NUM_THREADS", "2")

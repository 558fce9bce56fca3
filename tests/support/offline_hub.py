"""An empty torch hub cache per test, behind a firewall: what pretrained weights do on a machine with no internet.
A pytest plugin (tests/conftest.py); a test module takes it with `pytest.mark.usefixtures("torch_home")`."""

import urllib.error

import pytest
import torch


def _firewall(*args, **kwargs):
    raise urllib.error.URLError(OSError(101, "Network is unreachable"))


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache of the test's own; a download anywhere in it fails as behind a firewall."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _firewall)
    return tmp_path / "torch"

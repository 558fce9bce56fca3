"""Waiting in tests for something another thread or process does (a job's status, a run in the store)."""

import time


def wait_for(condition, timeout: float = 60.0, poll: float = 0.05) -> None:
    """Return once `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError("timed out")

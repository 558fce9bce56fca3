"""A run's status: the one list of them, and the groups the store, the jobs and the pages ask about.

Stored as its text ("finished"), so a `Status` compares equal to the string a database row or a job event holds.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"  # Stop or Ctrl-C: the weights trained so far are saved and tested
    FAILED = "failed"
    DIVERGED = "diverged"  # the loss became NaN or infinite
    CANCELLED = "cancelled"  # stopped before it started
    INTERRUPTED = "interrupted"  # its process died (a restart, kill -9) while it was queued or running
    CRASHED = "crashed"  # its worker process died under it
    DELETED = "deleted"  # a race's run removed from the store (shown, never stored)


ACTIVE = (Status.QUEUED, Status.RUNNING)
TESTED = (Status.FINISHED, Status.STOPPED)  # a run with a tested model: results, Try it, export, compare
BROKEN = (Status.FAILED, Status.DIVERGED)  # ended with an error message to show
ENDED = (*TESTED, *BROKEN, Status.CANCELLED, Status.INTERRUPTED, Status.CRASHED, Status.DELETED)
STORED = tuple(s for s in Status if s is not Status.DELETED)  # what a run in the store can be

"""Process-wide services for every browser session: the run store and the background job manager."""

from __future__ import annotations

import os
import uuid

import streamlit as st

from core.data import env_limit
from core.exec.jobs import MAX_JOBS, MAX_PER_CLIENT, JobManager
from core.exec.workers import threads_per_worker
from core.run.store import RunStore


def runs_dir() -> str:
    return os.environ.get("DLSTUDIO_RUNS", "runs")


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


@st.cache_resource(show_spinner=False)
def _jobs(root: str) -> JobManager:
    """Jobs train in DLSTUDIO_WORKERS worker processes (default 2), or as Ray tasks when DLSTUDIO_RAY_ADDRESS names
    a cluster (`auto`, HOST:PORT, or `local` for a Ray of this machine); DLSTUDIO_BACKEND=thread for debugging.
    At most DLSTUDIO_MAX_JOBS queued or running in all, DLSTUDIO_MAX_JOBS_PER_CLIENT from one address."""
    workers = int(os.environ.get("DLSTUDIO_WORKERS", "2"))
    share_cores(workers)
    address = os.environ.get("DLSTUDIO_RAY_ADDRESS", "").strip()
    backend = "ray" if address else os.environ.get("DLSTUDIO_BACKEND", "process")
    bounds = {
        "max_jobs": int(env_limit("DLSTUDIO_MAX_JOBS", MAX_JOBS)),
        "max_per_client": int(env_limit("DLSTUDIO_MAX_JOBS_PER_CLIENT", MAX_PER_CLIENT)),
    }
    return JobManager(_store(root), max_workers=workers, backend=backend, ray_address=address or None, **bounds)


def share_cores(workers: int) -> None:
    """This process's torch threads: a job's share of the cores (core/exec/workers.py threads_per_worker), so what the
    server computes itself (Try it, a prediction) does not fight the workers' threads."""
    import torch

    torch.set_num_threads(threads_per_worker(workers))


def get_store() -> RunStore:
    return _store(runs_dir())


def get_jobs() -> JobManager:
    return _jobs(runs_dir())


@st.cache_resource(show_spinner=False, max_entries=8)
def run_model(run_id: str):
    """A stored run's model and checkpoint, loaded once for every page and session (Try it, exports)."""
    from core.tasks import load_run_model

    return load_run_model(get_store(), run_id)


def client_address() -> str:
    """Where this session connects from; every session of one browser shares it (a reload is a new session).
    Streamlit gives None for localhost."""
    return st.context.ip_address or "localhost"


def session_id() -> str:
    """A stable id for this browser session, to tell its jobs from other people's."""
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex[:8]
    return st.session_state.session_id


UNSETTABLE = ("_btn", "_file")  # the ends of widget keys that st.session_state may not set: buttons, uploads


def keep_settings() -> None:
    """Call first on every page with settings: Streamlit forgets a widget's value when its page is not shown.

    A copy of every setting lives under "_keep_<key>" and is put back when the widget's own value has
    gone, so leaving a page and coming back finds it as it was. Buttons ("_btn") and uploads ("_file")
    cannot be set, so they are never kept or put back: a button whose key was written in the run that draws
    it is an error (every button's key ends in "_btn"; tests/exec/test_job_control.py checks).
    """
    state = st.session_state
    # Read the state once (iterating st.session_state builds its filtered copy each time, and each read and write
    # goes through Streamlit's checks) and write only what changed: this runs on every rerun of every session.
    now = state.to_dict()
    for key, value in now.items():
        if key.startswith("_keep_") and key[6:] not in now and not key.endswith(UNSETTABLE):
            state[key[6:]] = value
    for key, value in now.items():
        if key.startswith("_keep_") or key.endswith(UNSETTABLE):
            continue
        kept = f"_keep_{key}"
        if isinstance(value, int | float | str | bool | list | type(None)) and (kept not in now or now[kept] != value):
            state[kept] = value

"""Process-wide services for every browser session: the run store and the background job manager."""

from __future__ import annotations

import os
import uuid

import streamlit as st

from core.jobs import JobManager
from core.runs import RunStore


def runs_dir() -> str:
    return os.environ.get("DLSTUDIO_RUNS", "runs")


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


@st.cache_resource(show_spinner=False)
def _jobs(root: str) -> JobManager:
    workers = int(os.environ.get("DLSTUDIO_WORKERS", "2"))
    share_cores(workers)
    return JobManager(_store(root), max_workers=workers)


def share_cores(workers: int) -> None:
    """Give each concurrent job its share of the cores, so parallel jobs do not fight over threads.

    PyTorch's thread count is process-wide: with 2 jobs of 2 threads on 2 cores, every small step
    (a GRU's, an attention layer's) waits for a thread the other job has pushed off the CPU, and a
    run can take several times longer. DLSTUDIO_THREADS overrides.
    """
    import torch

    cores = os.cpu_count() or 1
    threads = int(os.environ.get("DLSTUDIO_THREADS", max(1, cores // max(workers, 1))))
    torch.set_num_threads(threads)


def get_store() -> RunStore:
    return _store(runs_dir())


def get_jobs() -> JobManager:
    return _jobs(runs_dir())


@st.cache_resource(show_spinner=False, max_entries=8)
def run_model(run_id: str):
    """A stored run's model and checkpoint, loaded once for every page and session (Try it, exports)."""
    from core.tasks import load_run_model

    return load_run_model(get_store(), run_id)


def session_id() -> str:
    """A stable id for this browser session, to tell its jobs from other people's."""
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex[:8]
    return st.session_state.session_id


def keep_settings() -> None:
    """Call first on every page with settings: Streamlit forgets a widget's value when its page is not shown.

    A copy of every setting lives under "_keep_<key>" and is put back when the widget's own value has
    gone, so leaving a page and coming back finds it as it was. Buttons ("_btn") and uploads ("_file")
    cannot be set, so they are not kept.
    """
    state = st.session_state
    for key in [k for k in state if str(k).startswith("_keep_")]:
        if key[6:] not in state:
            state[key[6:]] = state[key]
    for key in [k for k in state if not str(k).startswith("_keep_")]:
        value = state[key]
        if isinstance(value, int | float | str | bool | list | type(None)) and not str(key).endswith(("_btn", "_file")):
            state[f"_keep_{key}"] = value

"""Training settings (ranges from core.run.settings), the Train/Stop buttons and live curves, for every page."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.run.config import PANEL_SETTINGS as TRAINING_SETTINGS
from core.run.config import RUN_OPTIONS, make_config
from core.run.options import Option
from core.run.settings import RunConfig
from core.run.status import BROKEN, TESTED
from core.views.charts import curves_figure
from ui.services import client_address, get_jobs, get_store, session_id
from ui.text import plain

BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


def widget_value(name: str, value: Any) -> Any:
    """A config value as its widget holds it (a setting that 0 turns off: None = 0)."""
    return int(value or 0) if RUN_OPTIONS[name].zero_is_off else value


def apply_defaults(prefix: str, config: RunConfig, overwrite: bool = True) -> None:
    """Put a config's training settings into the widgets (on model change, or once at start)."""
    for name in TRAINING_SETTINGS:
        key = f"{prefix}_{name}"
        if overwrite or key not in st.session_state:
            st.session_state[key] = widget_value(name, getattr(config, name))


def option_widget(option: Option, key: str, container=st, disabled: bool = False) -> Any:
    """One Option as its widget: a select for choices, a checkbox for flags, a number input otherwise."""
    help_text = option.help or None
    if option.kind == "choice":
        return container.selectbox(option.label, option.choices, format_func=option.label_of, key=key, help=help_text)
    if option.kind == "bool":
        return container.checkbox(option.label, key=key, help=help_text, disabled=disabled)
    if option.name == "batch_size":
        sizes = sorted({*BATCH_SIZES, int(st.session_state.get(key, option.default))})
        return container.selectbox(option.label, sizes, key=key, help=help_text)
    cast = int if option.kind == "int" else float
    low = cast(option.low)
    fmt = None if option.kind == "int" else "%g"
    step = cast(option.step) if option.step else None
    value = container.number_input(
        option.label, low, cast(option.high), step=step, format=fmt, key=key, help=help_text, disabled=disabled
    )
    return cast(value)


def training_controls(prefix: str, defaults: RunConfig, closed_form: bool = False) -> dict[str, Any]:
    """The training settings as widgets under `{prefix}_{name}`; returns them as make_config's keywords."""
    apply_defaults(prefix, defaults, overwrite=False)
    seed = option_widget(RUN_OPTIONS["seed"], f"{prefix}_seed")
    if closed_form:
        st.caption("This model is fitted in closed form: no optimizer, learning rate, epochs or batch size.")
        return {"seed": seed}
    c1, c2 = st.columns(2)
    out = {"seed": seed}
    for i, name in enumerate(n for n in TRAINING_SETTINGS if n != "seed"):
        out[name] = option_widget(RUN_OPTIONS[name], f"{prefix}_{name}", (c1, c2)[i % 2])
    return out


def start_training(prefix: str, task: str, model: str, options: dict[str, Any]) -> None:
    try:
        config = make_config(task, model, **options)
        job = get_jobs().submit(config, owner=session_id(), client=client_address())
    except ValueError as exc:
        st.session_state[f"{prefix}_start_error"] = str(exc)
        return
    st.session_state.pop(f"{prefix}_start_error", None)
    st.session_state[f"{prefix}_job"] = job.id
    for key in (f"{prefix}_run", f"_keep_{prefix}_run"):  # the last run's results must not come back
        st.session_state.pop(key, None)


def training_panel(prefix: str, task: str, model: str, options: dict[str, Any], disabled: bool = False) -> str | None:
    """Train and Stop buttons plus a live view of the job; returns the run id of the last finished run."""
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Train", type="primary", key=f"{prefix}_train_btn", disabled=disabled, width="stretch"):
        start_training(prefix, task, model, options)
    if st.session_state.get(f"{prefix}_start_error"):
        st.error(plain(st.session_state[f"{prefix}_start_error"]))
    job_id = st.session_state.get(f"{prefix}_job")
    job = get_jobs().get(job_id) if job_id else None
    if job is not None and not job.done:
        if c2.button("Stop", key=f"{prefix}_stop_btn", width="stretch"):
            get_jobs().stop(job.id)
        live_job_view(prefix, job.id)
    elif job is not None:
        _record_finished(prefix, job)
    return st.session_state.get(f"{prefix}_run")


def _record_finished(prefix: str, job) -> None:
    if job.status in BROKEN:
        st.error(f"Training {job.status}: {plain(job.error)}")
    elif job.status in TESTED:
        st.session_state[f"{prefix}_run"] = job.run_id
        if job.status == "stopped":
            st.warning("Training was stopped; the results below are for the model trained so far.")


@st.fragment(run_every=1.0)
def live_job_view(prefix: str, job_id: int) -> None:
    """Redrawn every second on its own, so the rest of the page stays usable while training runs."""
    job = get_jobs().get(job_id)
    if job is None:
        return
    snap = job.snapshot()
    if job.done:
        st.rerun(scope="app")  # show the results panel
    if snap["status"] == "queued":
        waiting = [j for j in get_jobs().jobs(active_only=True) if j.status == "running"]
        st.info(f"Queued: waiting for a free worker ({len(waiting)} training now).")
        return
    embedded = snap.get("embedded")
    if embedded and embedded[0] < embedded[1] and not snap["epoch"]:
        done, total = embedded
        said = f"Embedding with the frozen backbone (once per data and backbone): {done}/{total}"
        st.progress(done / total, text=said)
        return
    epochs = snap["epochs"] or 1
    st.progress(min(snap["epoch"] / epochs, 1.0), text=f"Epoch {snap['epoch']}/{epochs} · {snap['elapsed']:.1f}s")
    if snap["history"]:
        chart = live_curves(snap["run_id"], len(snap["history"]), snap["history"])  # a job has its run from submit
        st.plotly_chart(chart, key=f"{prefix}_live_curves")


@st.cache_resource(show_spinner=False, max_entries=64)
def live_curves(run_id: str, epochs_done: int, _history: list[dict[str, Any]]):
    """A running job's curves, built once per finished epoch, not on every one-second redraw of every session."""
    return curves_figure({"run": _history})


def finished_runs(task: str) -> list[dict[str, Any]]:
    return [r for r in get_store().list(task) if r["status"] in TESTED]

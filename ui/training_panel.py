"""Training settings, the Train/Stop buttons and live curves, shared by every task page."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.charts import curves_figure
from core.experiment import make_config
from core.training import OPTIMIZER_LABELS, OPTIMIZERS
from ui.services import get_jobs, get_store, session_id

BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
SCHEDULE_LABELS = {"constant": "constant", "cosine": "cosine"}


TRAIN_DEFAULTS = {
    "optimizer": "adam",
    "lr": 1e-3,
    "epochs": 10,
    "batch_size": 64,
    "weight_decay": 0.0,
    "patience": 0,
    "seed": 0,
}


def apply_defaults(prefix: str, defaults: dict[str, Any], overwrite: bool = True) -> None:
    """Put a model's recommended settings into the widgets (on model change, or once at start)."""
    for name, value in {**TRAIN_DEFAULTS, **defaults}.items():
        key = f"{prefix}_{name}"
        if overwrite or key not in st.session_state:
            st.session_state[key] = value if name != "patience" else int(value or 0)


def training_controls(
    prefix: str, defaults: dict[str, Any], gradient: bool = True, schedule: bool = False
) -> dict[str, Any]:
    """Optimizer, learning rate, epochs, batch size, weight decay, seed, early stopping. Returns config keys.

    With `schedule`, also the learning-rate schedule (constant or cosine), under `{prefix}_schedule`.

    Widget values live in session state under `{prefix}_{name}`, so defaults, shared URLs and
    page changes all go through one place.
    """
    apply_defaults(prefix, defaults, overwrite=False)
    seed = st.number_input("Seed", 0, 10_000, key=f"{prefix}_seed")
    if not gradient:
        st.caption("This model is fitted in closed form: no optimizer or epochs.")
        return {"seed": int(seed)}
    c1, c2 = st.columns(2)
    optimizer = c1.selectbox("Optimizer", OPTIMIZERS, format_func=OPTIMIZER_LABELS.get, key=f"{prefix}_optimizer")
    lr = c2.number_input("Learning rate", 1e-5, 10.0, format="%g", step=1e-4, key=f"{prefix}_lr")
    epochs = c1.number_input("Epochs", 1, 500, key=f"{prefix}_epochs")
    sizes = sorted({*BATCH_SIZES, int(st.session_state[f"{prefix}_batch_size"])})
    batch_size = c2.selectbox("Batch size", sizes, key=f"{prefix}_batch_size")
    weight_decay = c1.number_input("Weight decay", 0.0, 1.0, format="%g", step=1e-4, key=f"{prefix}_weight_decay")
    patience = c2.number_input(
        "Early stopping patience",
        0,
        100,
        key=f"{prefix}_patience",
        help="Epochs without validation improvement; 0 = off",
    )
    options: dict[str, Any] = {}
    if schedule:
        st.session_state.setdefault(f"{prefix}_schedule", defaults.get("schedule", "constant"))
        options["schedule"] = c1.selectbox(
            "LR schedule",
            list(SCHEDULE_LABELS),
            format_func=SCHEDULE_LABELS.get,
            key=f"{prefix}_schedule",
            help="Learning-rate schedule: constant, or cosine (decays to 0 over the epochs)",
        )
    return {
        **options,
        "optimizer": optimizer,
        "lr": float(lr),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "weight_decay": float(weight_decay),
        "patience": int(patience) or None,
        "seed": int(seed),
    }


def start_training(prefix: str, task: str, model: str, options: dict[str, Any]) -> None:
    config = make_config(task, model, **options)
    job = get_jobs().submit(config, owner=session_id())
    st.session_state[f"{prefix}_job"] = job.id
    for key in (f"{prefix}_run", f"_keep_{prefix}_run"):  # the last run's results must not come back
        st.session_state.pop(key, None)


def training_panel(prefix: str, task: str, model: str, options: dict[str, Any], disabled: bool = False) -> str | None:
    """Train and Stop buttons plus a live view of the job; returns the run id of the last finished run."""
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Train", type="primary", key=f"{prefix}_train_btn", disabled=disabled, width="stretch"):
        start_training(prefix, task, model, options)
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
    if job.status == "failed":
        st.error(f"Training failed: {job.error}")
    elif job.status in ("finished", "stopped"):
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
    epochs = snap["epochs"] or 1
    st.progress(min(snap["epoch"] / epochs, 1.0), text=f"Epoch {snap['epoch']}/{epochs} · {snap['elapsed']:.1f}s")
    if snap["history"]:
        st.plotly_chart(curves_figure({"run": snap["history"]}), key=f"{prefix}_live_curves")


def finished_runs(task: str) -> list[dict[str, Any]]:
    return [r for r in get_store().list(task) if r["status"] in ("finished", "stopped")]

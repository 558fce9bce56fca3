"""Home: the demos, the compute device and the latest runs.

The demo cards come first and import nothing heavy (task specs, no PyTorch), so a fresh server shows them at once;
the run store, the job pool and PyTorch load after they are on screen.
"""

import os
from pathlib import Path

import streamlit as st

from core.eval.metric_info import format_metric, metric
from core.tasks import run_headline, task_spec, task_specs
from ui.text import plain

st.title("DL Studio")
st.markdown(
    "Train, compare and try deep learning models in seconds on this machine, offline: "
    "live curves, honest test-split numbers, and models you can talk to, draw for and rate movies with."
)


def best_run(task: str) -> tuple[dict | None, str, int]:
    """The best finished run of a task (what a presenter opens first), picked by its validation score so its test
    score is honest: (run, "validation" or "test" for how it was picked, how many runs it was picked from)."""
    from core.views.runs import pick_by_validation
    from ui.services import get_store

    spec, store = task_spec(task), get_store()
    runs = [r for r in store.list(task, limit=200) if r["status"] == "finished" and spec.primary_metric in r["metrics"]]
    return (*pick_by_validation(runs, store.history), len(runs))


best_slots = {}  # task -> the card's place for its best run, filled once the run store has loaded
for col, spec in zip(st.columns(len(task_specs())), task_specs()):
    with col.container(border=True):
        st.markdown(f"### {spec.icon} {spec.title}")
        st.write(spec.blurb)
        if (Path(__file__).parent / f"{spec.name}.py").exists():
            st.page_link(f"app_pages/{spec.name}.py", label=f"Open {spec.title}", icon=":material/arrow_forward:")
        best_slots[spec.name] = st.empty()


def best_run_card(name: str, best: dict, how: str, count: int) -> None:
    """A gallery card: the best run's headline number, model and data, its validation curve, a link to it."""
    from core.views.charts import sparkline_figure
    from ui.services import get_store

    spec = task_spec(name)
    primary = spec.primary_metric
    picked = {
        "validation": (
            "Best by validation",
            f"Of {count} finished runs, the one with the best validation score; the number is its held-out test "
            f"score (run {best['id']}), not a maximum picked on the test split.",
        ),
        "test": (
            f"Highest test score of {count} runs",
            f"No run has a validation score, so this is the highest test score of {count} runs (run {best['id']}): "
            "a maximum picked on the test split, which flatters it.",
        ),
    }[how]
    st.metric(f"{picked[0]} · {spec.label(primary)}", format_metric(primary, best["metrics"][primary]), help=picked[1])
    st.caption(f"**{best['model']}** on {plain(Path(best['dataset']).name)}")  # a folder of your own: its name
    history = get_store().history(best["id"])
    key = next((k for k in (f"val_{primary}", "val_loss") if any(k in h for h in history)), None)
    if key and len(history) > 1:
        curve = [h.get(key) for h in history]
        st.plotly_chart(
            sparkline_figure(curve, percent=metric(primary).percent and key != "val_loss"),
            key=f"home_spark_{name}",
            config={"displayModeBar": False},
        )
        st.caption(f"validation {key.removeprefix('val_').replace('_', ' ')} over {len(history)} epochs")
    st.page_link(
        "app_pages/runs.py",
        label="Open its results",
        icon=":material/insights:",
        query_params={"selected": [best["id"]]},
    )


def show_best_runs(slots: dict) -> None:
    for name, slot in slots.items():
        best, how, count = best_run(name)
        if best is not None:
            with slot.container():
                best_run_card(name, best, how, count)


def compute() -> None:
    import torch

    from ui.services import get_jobs

    st.subheader("Compute")
    c1, c2, c3 = st.columns(3)
    jobs = get_jobs()  # also sets each job's share of the cores
    c1.metric(
        "CPU",
        f"{os.cpu_count()} cores",
        help=f"Up to {jobs.max_workers} jobs train at once, each with {torch.get_num_threads()} PyTorch thread(s).",
    )
    if torch.cuda.is_available():
        c2.metric("CUDA", torch.cuda.get_device_name(0))
    else:
        c2.metric("CUDA", "not available", help="Training runs on the CPU; `--device auto` picks CUDA when present.")
    c3.metric("PyTorch", torch.__version__.split("+")[0])


def latest_runs() -> None:
    import pandas as pd

    from ui.services import get_store

    st.subheader("Latest runs")
    runs = get_store().list(limit=10)
    if not runs:
        st.caption("No runs yet: open a demo and press Train.")
        return
    table = pd.DataFrame(
        [
            {
                "run": r["id"],
                "task": r["task"],
                "dataset": r["dataset"],
                "model": r["model"],
                "status": r["status"],
                "result (test split)": run_headline(r),
                "seconds": r["seconds"],
            }
            for r in runs
        ]
    ).dropna(axis=1, how="all")
    st.dataframe(table, hide_index=True, key="home_runs")


show_best_runs(best_slots)
compute()
latest_runs()

"""Home: the demos, the compute device and the latest runs."""

import os
from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from core.metric_info import format_metric, metric
from core.tasks import get_task, run_headline, task_specs
from ui.services import get_jobs, get_store

st.title("DL Studio")
st.markdown(
    "Train, compare and try deep learning models in seconds on this machine, offline: "
    "live curves, honest test-split numbers, and models you can talk to, draw for and rate movies with."
)


def best_run(task: str) -> dict | None:
    """The best finished run of a task by its primary metric (what a presenter opens first)."""
    spec = get_task(task).spec
    runs = [
        r
        for r in get_store().list(task, limit=200)
        if r["status"] == "finished" and spec.primary_metric in r["metrics"]
    ]
    sign = 1 if metric(spec.primary_metric).higher_is_better else -1
    return max(runs, key=lambda r: sign * r["metrics"][spec.primary_metric], default=None)


for col, spec in zip(st.columns(len(task_specs())), task_specs()):
    with col.container(border=True):
        st.markdown(f"### {spec.icon} {spec.title}")
        st.write(spec.blurb)
        if (Path(__file__).parent / f"{spec.name}.py").exists():
            st.page_link(f"app_pages/{spec.name}.py", label=f"Open {spec.title}", icon=":material/arrow_forward:")
        best = best_run(spec.name)
        if best is not None:
            value = format_metric(spec.primary_metric, best["metrics"][spec.primary_metric])
            st.caption(
                f"Best so far: **{best['model']}** on {best['dataset']} · {spec.label(spec.primary_metric)} {value}"
            )

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

st.subheader("Latest runs")
runs = get_store().list(limit=10)
if not runs:
    st.caption("No runs yet: open a demo and press Train.")
else:
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

"""Home: the demos, the compute device and the latest runs."""

import os
from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from core.tasks import available_tasks
from ui.services import get_jobs, get_store

st.title("DL Studio")
st.markdown(
    "Train, compare and try deep learning models in seconds on this machine, offline: "
    "live curves, honest test-split numbers, and models you can talk to, draw for and rate movies with."
)

DEMOS = [
    (
        "image",
        "Image recognition",
        ":material/image:",
        "Digits, faces and shapes, or your own folder of images. "
        "CNNs with and without batch norm, depthwise-separable convolutions, ResNets and transfer learning.",
    ),
    (
        "speech",
        "Speech commands",
        ":material/mic:",
        "Keyword spotting on spoken commands: train, then say “yes” into the microphone.",
    ),
    (
        "recsys",
        "Recommendation",
        ":material/movie:",
        "From ratings to personal top-10 lists, measured the way the field measures.",
    ),
]
built = set(available_tasks())
for col, (task, title, icon, blurb) in zip(st.columns(len(DEMOS)), DEMOS):
    with col.container(border=True):
        st.markdown(f"### {icon} {title}")
        st.write(blurb)
        if task in built and (Path(__file__).parent / f"{task}.py").exists():
            st.page_link(f"app_pages/{task}.py", label=f"Open {title}", icon=":material/arrow_forward:")
        else:
            st.info("Not built yet: this demo is coming in a later release.")

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
                "accuracy": r["metrics"].get("accuracy"),
                "ndcg@10": r["metrics"].get("ndcg@10"),
                "seconds": r["seconds"],
            }
            for r in runs
        ]
    ).dropna(axis=1, how="all")
    st.dataframe(table, hide_index=True, key="home_runs")

"""The results of one finished run, from the run store: metrics, curves, report, confusion matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core.charts import confusion_matrix_figure, curves_figure
from ui.services import get_store


def compact_count(n: float) -> str:
    """140458 -> '140.5k', 11181642 -> '11.18M': short enough for a metric tile."""
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.1f}k" if n >= 1e4 else f"{n:,.0f}"


METRIC_LABELS = {
    "accuracy": ("Test accuracy", "{:.2%}"),
    "macro_f1": ("Macro-F1", "{:.3f}"),
    "parameters": ("Parameters", lambda n: compact_count(n)),
    "size_mb": ("Size", "{:.2f} MB"),
    "latency_ms": ("Latency", "{:.2f} ms"),
    "train_seconds": ("Training", "{:.1f} s"),
}
# Recommendation: top-K ranking, rating prediction, and what the model costs.
RANKING_LABELS = {
    "precision@10": ("Precision@10", "{:.3f}"),
    "recall@10": ("Recall@10", "{:.3f}"),
    "ndcg@10": ("NDCG@10", "{:.3f}"),
    "hit@10": ("Hit rate@10", "{:.1%}"),
    "map@10": ("MAP@10", "{:.3f}"),
    "coverage@10": ("Coverage", "{:.1%}"),
}
RATING_LABELS = {"rmse": ("RMSE", "{:.3f}"), "mae": ("MAE", "{:.3f}")}
COST_LABELS = {k: METRIC_LABELS[k] for k in ("parameters", "size_mb", "latency_ms", "train_seconds")}


def metric_row(metrics: dict[str, float], labels: dict[str, tuple[str, str]] = METRIC_LABELS) -> None:
    shown = [(k, v) for k, v in labels.items() if k in metrics]
    for col, (key, (label, fmt)) in zip(st.columns(len(shown)), shown):
        col.metric(label, format_value(fmt, metrics[key]))


def format_value(fmt, value) -> str:
    """A metric's value by its label's format: a format string or a function."""
    return fmt(value) if callable(fmt) else fmt.format(value)


def report_table(report: dict[str, Any]) -> pd.DataFrame:
    """scikit-learn's classification_report(output_dict=True) as a table, one row per class then the averages."""
    rows = {k: v for k, v in report.items() if isinstance(v, dict)}
    df = pd.DataFrame(rows).T[["precision", "recall", "f1-score", "support"]]
    df["support"] = df["support"].astype(int)
    return df


def classification_view(run: dict[str, Any], key: str) -> None:
    details = run["details"]
    if "confusion_matrix" not in details:
        return
    if details.get("classification_note"):
        st.markdown(f"**{details['classification_note']}**")
    c1, c2 = st.columns([3, 2])
    with c1:
        st.markdown("**Confusion matrix** (test split)")
        normalize = st.toggle("Show row shares", key=f"{key}_normalize")
        st.plotly_chart(
            confusion_matrix_figure(details["confusion_matrix"], details["class_names"], normalize),
            key=f"{key}_confusion",
        )
    with c2:
        st.markdown("**Classification report** (scikit-learn)")
        table = report_table(details["report"])
        st.dataframe(table.style.format(precision=3), height=38 + 35 * len(table), key=f"{key}_report")


def results_panel(
    run_id: str,
    key: str,
    extra_tabs: dict[str, Callable[[dict[str, Any]], None]] | None = None,
    metrics_view: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any] | None:
    """Render a stored run; `extra_tabs` adds task-specific tabs (name -> renderer taking the run record);
    `metrics_view` (taking the run record) replaces the one row of headline metrics."""
    store = get_store()
    run = store.get(run_id)
    if run is None:
        st.warning(f"Run {run_id} is no longer in the run store.")
        return None
    if run["status"] == "failed":
        st.error(f"Run {run_id} failed: {run['error']}")
        return run
    st.subheader(f"Results · {run['model']} on {run['dataset']}")
    details = run["details"]
    note = details.get("split_note", "")
    st.caption(
        f"Run `{run_id}` · {run['status']} · numbers on the held-out **test split** "
        f"({details.get('test_size', '?')} examples; {note})."
        + (f" Stopped early: {details['stop_reason']}." if details.get("stop_reason") else "")
    )
    if metrics_view is not None:
        metrics_view(run)
    else:
        metric_row(run["metrics"])
    tabs = st.tabs(["Overview", *(extra_tabs or {})])
    with tabs[0]:
        history = store.history(run_id)
        if history:
            st.plotly_chart(curves_figure({"run": history}), key=f"{key}_curves")
        classification_view(run, key)
    for tab, render in zip(tabs[1:], (extra_tabs or {}).values()):
        with tab:
            render(run)
    return run

"""The results of one finished run, from the run store: metrics with intervals, curves, report, confusion matrix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.eval.baseline import comparison_line, verdict_text
from core.eval.metric_info import METRICS, format_interval, format_metric, metric
from core.eval.metrics import report_with_present_macro_avg
from core.run.status import BROKEN, TESTED
from core.tasks import get_task
from core.views.charts import confusion_matrix_figure, curves_figure, model_comparison_figure
from ui.services import get_store
from ui.text import plain


def metric_row(run: dict[str, Any], names: Sequence[str]) -> None:
    """Metric tiles for `names` (those the run has), labelled by its task, each with its 95% interval."""
    metrics, ci = run["metrics"], run["details"].get("ci95", {})
    spec = get_task(run["task"]).spec
    shown = [n for n in names if n in metrics]
    if not shown:
        return
    for col, name in zip(st.columns(max(len(shown), 1)), shown):
        col.metric(spec.label(name), format_metric(name, metrics[name]), help=format_interval(name, ci.get(name)))
        if ci.get(name):
            col.caption(format_interval(name, ci[name]))


def worst_mistakes(run: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """The run's most confident test mistakes (input, true and predicted class, confidence, index), with a
    caption about `what` they are; says so and returns [] when the test split has none."""
    art = get_store().load_artifacts(run["id"])
    names = run["details"]["class_names"]
    if art.get("mistake_index") is None or len(art["mistake_index"]) == 0:
        st.success("No mistakes on the test split.")
        return []
    st.caption(f"The test {what} the model got wrong with the most confidence.")
    out = []
    for n, (i, x) in enumerate(zip(art["mistake_index"], art["mistake_inputs"])):
        probs = art["probs"][i]
        pred = int(probs.argmax())
        out.append({"n": n, "input": x, "true": names[art["y_true"][i]], "pred": names[pred], "p": probs[pred]})
    return out


def report_table(report: dict[str, Any]) -> pd.DataFrame:
    """scikit-learn's classification_report(output_dict=True) as a table, one row per class then the averages."""
    rows = {k: v for k, v in report.items() if isinstance(v, dict)}
    df = pd.DataFrame(rows).T[["precision", "recall", "f1-score", "support"]]
    df["support"] = df["support"].astype(int)
    return df


# A stored run's charts are built once for every redraw and every session: a stored result never changes, and
# building a Plotly figure costs more than the rest of the results panel (the server answers each click sooner).
@st.cache_resource(show_spinner=False, max_entries=32)
def run_curves(run_id: str, epochs: int, _history: list[dict[str, Any]]):
    """A stored run's training curves after `epochs` epochs (the Runs page also shows runs still training)."""
    return curves_figure({"run": _history})


@st.cache_resource(show_spinner=False, max_entries=32)
def run_confusion(run_id: str, normalize: bool):
    """A stored run's confusion matrix on its test split (counts, or each row's shares)."""
    details = get_store().get(run_id)["details"]
    return confusion_matrix_figure(details["confusion_matrix"], details["class_names"], normalize)


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
        st.plotly_chart(run_confusion(run["id"], normalize), key=f"{key}_confusion")
    with c2:
        st.markdown("**Classification report** (scikit-learn)")
        table = report_table(
            report_with_present_macro_avg(details["report"], details["confusion_matrix"], details["class_names"])
        )
        st.dataframe(table.style.format(precision=3), height=38 + 35 * len(table), key=f"{key}_report")


def same_data_runs(run: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Finished runs of the same task, data and protocol as `run`: bars of `name`, best first."""
    same = [
        r
        for r in get_store().list(run["task"])
        if r["status"] in TESTED
        and r["dataset"] == run["dataset"]
        and r["config"].protocol == run["config"].protocol
        and name in r["metrics"]
    ]
    rows = []
    for r in same[:15]:
        low, high = (r["details"].get("ci95", {}).get(name) or (None, None))[:2]
        rows.append({"run": r["id"], "model": r["model"], "value": r["metrics"][name], "low": low, "high": high})
    return sorted(rows, key=lambda r: r["value"], reverse=metric(name).higher_is_better)


def overview(run: dict[str, Any], key: str) -> None:
    """Curves for a trained run; for a closed-form fit, where it stands among models on the same data."""
    history = get_store().history(run["id"])
    spec = get_task(run["task"]).spec
    if run["details"].get("closed_form"):
        name = spec.primary_metric
        st.caption(
            f"{run['model']} is fitted in closed form, so there are no training curves: here is its "
            f"{spec.label(name)} beside the other runs on {plain(run['dataset'])} (up to 15, best first)."
        )
        rows = same_data_runs(run, name)
        st.plotly_chart(model_comparison_figure(rows, spec.label(name), run["id"]), key=f"{key}_same_data")
        if len(rows) < 2:
            st.caption("Train another model on this data (a baseline, a neural model) to see them side by side.")
    elif history:
        st.plotly_chart(run_curves(run["id"], len(history), history), key=f"{key}_curves")
    classification_view(run, key)


BASELINE_BOXES = {"better": st.success, "level": st.warning, "worse": st.warning}  # else st.info


def baseline_view(run: dict[str, Any]) -> None:
    """The run beside its task's classical baseline (same split, same test examples), and whether it beats it beyond
    noise: said plainly, with what to try when it does not."""
    said = verdict_text(run)
    if said is None:
        return
    line = comparison_line(run)
    if line:
        st.markdown(f"**{line}**")
    BASELINE_BOXES.get(said[0], st.info)(said[1])
    note = run["details"]["baseline"].get("note")
    st.caption(f"Classical baseline fitted on this run's training split, scored on its test split. {note or ''}")


def run_caption(run: dict[str, Any]) -> str:
    details = run["details"]
    notes = [f"Stopped early: {details['stop_reason']}." if details.get("stop_reason") else ""]
    notes.append(f"Fitted to the data: {details['settings_note']}." if details.get("settings_note") else "")
    notes.append(details.get("ci95_note", ""))  # what the intervals resampled (test examples, speakers)
    return (
        f"Run `{run['id']}` · {run['status']} · numbers on the held-out **test split** "
        f"({details.get('test_size', '?')} examples; {plain(details.get('split_note', ''))}). "
        + " ".join(n for n in notes if n)
    )


def results_panel(
    run_id: str,
    key: str,
    extra_tabs: dict[str, Callable[[dict[str, Any]], None]] | None = None,
    metrics_view: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any] | None:
    """Render a stored run; `extra_tabs` adds task-specific tabs (name -> renderer taking the run record);
    `metrics_view` (taking the run record) replaces the one row of headline metrics."""
    run = get_store().get(run_id)
    if run is None:
        st.warning(f"Run {run_id} is no longer in the run store.")
        return None
    if run["status"] in BROKEN:
        st.error(f"Run {run_id} {run['status']}: {plain(run['error'])}")
        return run
    st.subheader(f"Results · {run['model']} on {plain(Path(run['dataset'] or '').name or run['dataset'])}")
    st.caption(run_caption(run))
    if metrics_view is not None:
        metrics_view(run)
    else:
        headline = get_task(run["task"]).spec.headline
        metric_row(run, [n for n in headline if not metric(n).cost])
        metric_row(run, [m.name for m in METRICS.values() if m.cost])
    baseline_view(run)
    # Lazy tabs: only the open one runs and is sent, so a click elsewhere on the page does not redraw the charts
    # and models of tabs nobody is looking at (a page answers sooner, most of all with many sessions at once).
    tabs = st.tabs(["Overview", *(extra_tabs or {})], key=f"{key}_tab", on_change="rerun")
    for tab, render in zip(tabs, [lambda r: overview(r, key), *(extra_tabs or {}).values()]):
        if tab.open:
            with tab:
                render(run)
    return run

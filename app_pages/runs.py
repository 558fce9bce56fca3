"""Runs: every run from the app and the CLI. Filter, sort, compare side by side, export, report, reproduce, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from core.eval.baseline import baseline_cells
from core.eval.metric_info import format_interval, format_metric, metric
from core.run.command import command_for
from core.run.export import example_batch, export_run
from core.run.settings import FIELDS, RunConfig
from core.run.status import STORED, TESTED
from core.run.store import ACTIVE
from core.tasks import get_task
from core.views.charts import confusion_matrix_figure, curves_figure
from core.views.report import run_report
from core.views.runs import SORTS, filter_runs, long_label, setting_text, short_labels
from ui.results_panel import results_panel
from ui.services import get_jobs, get_store, keep_settings, runs_dir
from ui.share import list_of, one_of, share_settings, text
from ui.text import plain

P = "runs"
STATUSES = list(STORED)
MAX_COMPARED = 8
SMALL = {"latency_ms": "{:.2g} ms", "train_seconds": "{:.2g} s"}  # costs too small for their usual format


@st.cache_resource(show_spinner="Loading the run's test data…", max_entries=4)
def export_examples(config_json: str):
    config = RunConfig.from_dict(json.loads(config_json))
    return example_batch(config.task, get_task(config.task).load_data(config))


def _keep_valid(key: str, options: list, most: int | None = None) -> None:
    value = st.session_state.get(key)
    if isinstance(value, list):
        st.session_state[key] = [v for v in value if v in options][:most]


def filtered_runs(runs: list[dict]) -> list[dict]:
    state = st.session_state
    return filter_runs(
        runs, state.get(f"{P}_task"), state.get(f"{P}_status"), state.get(f"{P}_search"), state.get(f"{P}_sort")
    )


def _training(run: dict, key: str):
    """A training setting, or None for a model fitted in closed form (where it played no part)."""
    return None if run["details"].get("closed_form") else getattr(run["config"], key)


def runs_table(runs: list[dict]) -> None:
    rows = [
        {
            "run": r["id"],
            "task": r["task"],
            "model": r["model"],
            "dataset": r["dataset"],
            "status": r["status"],
            "accuracy": r["metrics"].get("accuracy"),
            "ndcg@10": r["metrics"].get("ndcg@10"),
            "95% interval": score_interval(r),
            **dict(zip(("baseline", "vs baseline"), baseline_cells(r))),
            "optimizer": _training(r, "optimizer"),
            "lr": _training(r, "lr"),
            "epochs": _training(r, "epochs"),
            "seed": r["config"].seed,
            "training (s)": r.get("seconds"),
            "parameters": r["metrics"].get("parameters"),
            "started": pd.Timestamp(r["created"], unit="s"),
            "why it failed": r.get("error"),
        }
        for r in runs
    ]
    table = pd.DataFrame(rows).dropna(axis=1, how="all")
    st.dataframe(
        table,
        hide_index=True,
        height=min(38 + 35 * len(table), 400),
        placeholder="–",
        column_config={
            "run": st.column_config.TextColumn("run", pinned=True),
            "accuracy": st.column_config.NumberColumn("accuracy", format="percent"),
            "ndcg@10": st.column_config.NumberColumn("NDCG@10", format="%.4f"),
            "lr": st.column_config.NumberColumn("lr", format="%g"),
            "training (s)": st.column_config.NumberColumn("training (s)", format="%.2f"),
            "parameters": st.column_config.NumberColumn("parameters", format="compact"),
            "started": st.column_config.DatetimeColumn("started", format="MMM D, HH:mm"),
        },
        key=f"{P}_table",
    )


def _fmt_metric(key: str, value) -> str:
    if key in SMALL and isinstance(value, int | float) and 0 < value < 0.1:
        return SMALL[key].format(value)  # 0.003 ms, not 0.00 ms
    return format_metric(key, value) if isinstance(value, int | float) else str(value)


def metrics_table(runs: list[dict], labels: list[str]) -> None:
    keys = list(dict.fromkeys(k for r in runs for k in r["metrics"]))
    table = pd.DataFrame(
        {
            lab: [_fmt_metric(k, r["metrics"][k]) if k in r["metrics"] else "–" for k in keys]
            for lab, r in zip(labels, runs)
        },
        index=[metric(k).label for k in keys],
    )
    st.table(table)  # a static table: every run's column fits, nothing is cut off


def compare_view(runs: list[dict]) -> None:
    """Side by side: metrics and the settings that differ, curves overlaid, confusion matrices in a row."""
    store = get_store()
    labels = short_labels(runs)
    st.markdown("**Test metrics** · each run's held-out test split")
    metrics_table(runs, labels)
    st.markdown("**Settings**")
    settings_diff(runs, labels)
    for r in runs:
        if r.get("error"):
            st.error(f"Run {r['id']} {r['status']}: {plain(r['error'])}")
    histories = {lab: store.history(r["id"]) for lab, r in zip(labels, runs)}
    st.markdown("**Training curves** · one colour per run; train solid, validation dashed")
    if any(len(h) > 1 for h in histories.values()):
        st.plotly_chart(curves_figure({k: v for k, v in histories.items() if v}, height=380), key=f"{P}_cmp_curves")
    else:
        st.caption("None of these runs logged more than one epoch (or was fitted in one pass): no curve to draw.")
    with_cm = [(lab, r) for lab, r in zip(labels, runs) if "confusion_matrix" in r["details"]]
    if not with_cm:
        return
    st.markdown("**Confusion matrices** · test split; rows true, columns predicted")
    notes = {r["details"].get("classification_note") for _, r in with_cm} - {None}
    for note in notes:
        st.caption(note)
    normalize = st.toggle("Show row shares", key=f"{P}_cmp_normalize")
    per_row = 4 if len(with_cm) in (4, 7, 8) else min(len(with_cm), 3)  # rows as even as they can be
    for start in range(0, len(with_cm), per_row):
        for col, (lab, r) in zip(st.columns(per_row), with_cm[start : start + per_row]):
            col.markdown(f"**{plain(lab)}** · {plain(r['dataset'])}")
            fig = confusion_matrix_figure(r["details"]["confusion_matrix"], r["details"]["class_names"], normalize)
            col.plotly_chart(fig, key=f"{P}_cm_{r['id']}")


def settings_diff(runs: list[dict], labels: list[str]) -> None:
    configs = [r["config"].to_dict() for r in runs]
    values = {k: [setting_text(c[k]) for c in configs] for k in FIELDS}
    differ = [k for k in FIELDS if len(set(values[k])) > 1]
    show_all = st.toggle("Show every setting", key=f"{P}_all_settings")
    shown = FIELDS if show_all else differ
    if not shown:
        st.caption("These runs share every setting.")
        return
    st.caption(f"{len(differ)} setting(s) differ" + ("" if show_all else "; the rest are the same."))
    table = pd.DataFrame({lab: [values[k][i] for k in shown] for i, lab in enumerate(labels)}, index=shown)
    st.table(table)


def score_interval(run: dict) -> str | None:
    """The 95% interval of a run's primary metric, as text (runs from before intervals have none)."""
    name = get_task(run["task"]).spec.primary_metric
    return format_interval(name, (run["details"] or {}).get("ci95", {}).get(name))


def _stop(run_id: str) -> None:
    if get_jobs().stop_run(run_id):
        st.toast(f"Stopping run {run_id}…")
    else:
        st.toast(f"Run {run_id} is not trained by this server (a CLI run or one from before a restart).")


def _delete(run_id: str) -> None:
    get_store().delete(run_id)
    selected = st.session_state.get(f"{P}_selected") or []
    st.session_state[f"{P}_selected"] = [r for r in selected if r != run_id]
    st.session_state.get(f"{P}_exports", {}).pop(run_id, None)
    st.toast(f"Deleted run {run_id}.")


def export_section(run: dict) -> None:
    exports = st.session_state.setdefault(f"{P}_exports", {})
    finished = run["status"] in TESTED
    if st.button(
        "Export to ONNX and TorchScript",
        icon=":material/output:",
        key=f"{P}_export_btn",
        disabled=not finished,
        help="Each file is loaded back and checked against the trained model on real test inputs.",
    ):
        with st.spinner("Exporting and checking…"):
            try:
                examples = export_examples(json.dumps(run["config"].to_dict(), sort_keys=True))
                exports[run["id"]] = [c.to_dict() for c in export_run(get_store(), run["id"], examples)]
            except Exception as exc:  # the run's data may be gone (a deleted folder): say so
                st.error(f"Could not export run {run['id']}: {type(exc).__name__}: {plain(exc)}")
    checks = exports.get(run["id"])
    if not checks:
        return
    rows = [
        {
            "format": c["format"],
            "checked on": f"{c['examples']} {get_task(run['task']).spec.example_noun}",
            "max |difference|": c["max_abs_diff"],
            "same predictions": {True: "yes", False: "NO", None: "–"}[c["same_predictions"]],
            "any batch size": {True: "yes", False: f"only {c['examples']}", None: "–"}[c["dynamic_batch"]],
            "verdict": "✓ matches" if c["ok"] else f"✗ {c['error'] or 'differs'}",
        }
        for c in checks
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={"max |difference|": st.column_config.NumberColumn(format="%.2e")},
        key=f"{P}_export_table",
    )
    cols = st.columns(len(checks))
    for col, c in zip(cols, checks):
        path = Path(c["path"])
        if c["ok"] and path.exists():
            col.download_button(
                {"onnx": "Download .onnx", "torchscript": "Download TorchScript .pt"}[c["format"]],
                data=path.read_bytes,
                file_name=f"{run['id']}{''.join(path.suffixes) if c['format'] == 'torchscript' else path.suffix}",
                icon=":material/download:",
                key=f"{P}_dl_{c['format']}_btn",
                on_click="ignore",
            )


def actions(run: dict) -> None:
    store = get_store()
    has_ckpt = store.artifacts.exists(run["id"], "checkpoint.pt")  # the run's folder, or the team's artifact store
    c1, c2, c3 = st.columns(3)
    c1.download_button(
        "Download checkpoint",
        data=(lambda: store.read_file(run["id"], "checkpoint.pt")) if has_ckpt else b"",
        file_name=f"{run['id']}.pt",
        icon=":material/download:",
        disabled=not has_ckpt,
        help="A plain dict (model, optimizer, config, meta, epoch); load with torch.load(..., weights_only=True).",
        key=f"{P}_ckpt_btn",
        on_click="ignore",
        width="stretch",
    )
    c2.download_button(
        "Download HTML report",
        data=lambda: run_report(store.get(run["id"]), store.history(run["id"])),
        file_name=f"{run['id']}.html",
        mime="text/html",
        icon=":material/description:",
        help="One self-contained file (charts included) for people without the app.",
        key=f"{P}_report_btn",
        on_click="ignore",
        width="stretch",
    )
    active = run["status"] in ACTIVE
    if active:
        c3.button(
            "Stop" if run["status"] == "running" else "Cancel",
            icon=":material/stop:",
            key=f"{P}_stop_btn",
            on_click=_stop,
            args=(run["id"],),
            help="Ends the training after its current batch (a queued run never starts); then it can be deleted.",
            width="stretch",
        )
    with c3.popover(
        "Delete…", icon=":material/delete:", disabled=active, width="stretch", help="Stop it first." if active else None
    ):
        st.markdown(f"Delete run `{run['id']}`, its checkpoint and its files? This cannot be undone.")
        st.button("Delete for good", type="primary", key=f"{P}_delete_btn", on_click=_delete, args=(run["id"],))
    st.markdown("**Reproduce from the command line**")
    st.code(command_for(run["config"]), language="bash", wrap_lines=True)
    export_section(run)


keep_settings()
store = get_store()
all_runs = store.list()
share_settings(
    P,
    {
        "task": list_of(text),
        "status": list_of(one_of(STATUSES)),
        "search": text,
        "sort": one_of(list(SORTS)),
        "selected": list_of(text),
    },
)
st.title(":material/history: Runs")
st.caption(
    f"Every run from the app and the command line (run store `{runs_dir()}`). "
    "Pick runs to compare them side by side, export them, download a report or get the command that reproduces them."
)
if not all_runs:
    st.info(
        "No runs yet: train a model on a demo page, race variants in the What-if lab, or use `python -m core train`."
    )
    st.stop()

tasks = sorted({r["task"] for r in all_runs})
_keep_valid(f"{P}_task", tasks)
_keep_valid(f"{P}_status", STATUSES)
f1, f2, f3, f4 = st.columns([2, 2, 3, 2])
f1.multiselect("Task", tasks, key=f"{P}_task", placeholder="all tasks")
f2.multiselect("Status", STATUSES, key=f"{P}_status", placeholder="any status")
f3.text_input("Search", key=f"{P}_search", placeholder="model, dataset, run id or error")
st.session_state.setdefault(f"{P}_sort", "newest")
f4.selectbox("Sort", list(SORTS), format_func=SORTS.get, key=f"{P}_sort")
shown = filtered_runs(all_runs)
st.caption(f"{len(shown)} of {len(all_runs)} runs")
runs_table(shown)

by_id = {r["id"]: r for r in all_runs}
_keep_valid(f"{P}_selected", list(by_id), MAX_COMPARED)
selected_ids = st.session_state.get(f"{P}_selected") or []
options = list(dict.fromkeys([*selected_ids, *(r["id"] for r in shown)]))
picked = st.multiselect(
    "Runs to compare or act on",
    options,
    format_func=lambda i: long_label(by_id[i]),
    max_selections=MAX_COMPARED,
    key=f"{P}_selected",
    placeholder="pick one run for its details and actions, or several to compare them",
)
runs = [by_id[i] for i in picked]
if not runs:
    st.info("Pick runs above: one to see it in full, two or more to compare them side by side.")
    st.stop()
if len(runs) == 1:
    focus = runs[0]
    results_panel(focus["id"], f"{P}_one")
else:
    st.subheader(f"Comparing {len(runs)} runs")
    compare_view(runs)
    focus_id = st.selectbox(
        "Act on", [r["id"] for r in runs], format_func=lambda i: long_label(by_id[i]), key=f"{P}_focus"
    )
    focus = by_id[focus_id]
st.subheader(f"Run {focus['id']}")
actions(focus)

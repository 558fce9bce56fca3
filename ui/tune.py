"""The what-if lab's Tune section: pick settings and their ranges, a budget and a limit; Optuna searches in the
background (core/lab/tune.py) and the section shows its trials and Optuna's own plots live, then the best run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.lab.tune import (
    MAX_TRIALS,
    PRUNERS,
    SWITCHES,
    TUNABLE,
    TuneSpec,
    load_study,
    orphaned,
    parse_search,
    running_tuner,
    spec_of,
    start_tune,
    storage_url,
    study_names,
    trials_table,
)
from core.lab.whatif import available_axes
from core.models import get_spec, list_models
from core.run.config import RUN_OPTIONS, make_config
from core.run.settings import RunConfig
from core.tasks import get_task
from ui.services import client_address, get_jobs, get_store, session_id
from ui.share import float_in, int_in, list_of, one_of, share_settings, text
from ui.text import plain

P = "whatif_tune"
SHARED = "whatif"  # the lab's URL prefix: the tune's settings sit in the lab's link as tune_*


def default_range(name: str, base: RunConfig) -> str:
    """A setting's starting range or values, in the command line's words (edited in place by the user)."""
    if name in SWITCHES:
        return "on,off"
    fixed = {
        "lr": "0.0001:0.01:log",
        "weight_decay": "0.00001:0.01:log",
        "batch_size": "16:256:log",
        "optimizer": "sgd,momentum,adam,adamw",
        "schedule": "constant,cosine",
    }
    if name in fixed:
        return fixed[name]
    if name == "epochs":
        return f"{max(1, base.epochs // 2)}:{base.epochs * 2}"
    task = base.task
    return ",".join(m for m in list_models(task) if not get_spec(task, m).closed_form)


def searchable(task: str, model: str) -> list[str]:
    """The settings this base model can search: training settings, its switches, and other models."""
    axes = set(available_axes(task, model))
    return [n for n in TUNABLE if n not in (*SWITCHES, "model") or n in axes]


def share() -> None:
    """The tune's settings in the lab's URL (call before the widgets)."""
    share_settings(
        SHARED,
        {
            "tune_settings": list_of(one_of(TUNABLE)),
            **{f"tune_range_{n}": text for n in TUNABLE},
            "tune_trials": int_in(1, MAX_TRIALS),
            "tune_minutes": float_in(0, 24 * 60),
            "tune_pruner": one_of(list(PRUNERS)),
            "tune_max_parameters": float_in(0, 1e12),
            "tune_max_latency": float_in(0, 1e6),
            "tune_study": text,
        },
    )


def search_inputs(task: str, model: str, base: RunConfig) -> list[str] | None:
    """Pick settings; each gets its range (LOW:HIGH[:log]) or values (V1,V2), checked against the settings table.
    None while one of them is wrong (its warning says how)."""
    names = searchable(task, model)
    key = f"{P}_settings"
    if key not in st.session_state or not isinstance(st.session_state[key], list):
        st.session_state[key] = [n for n in ("lr", "batch_norm") if n in names]
    st.session_state[key] = [n for n in st.session_state[key] if n in names]
    picked = st.multiselect("Settings to search", names, key=key, format_func=_title)
    dims: list[str] | None = []
    for name in picked:
        st.session_state.setdefault(f"{P}_range_{name}", default_range(name, base))
        allowed = RUN_OPTIONS[name].range_text() if name in RUN_OPTIONS else "on,off or model names"
        words = st.text_input(
            f"{_title(name)}: LOW:HIGH[:log] or V1,V2",
            key=f"{P}_range_{name}",
            help=f"the setting's range: {allowed}",
        )
        try:
            dim = parse_search(f"{name}={words}", task).text()
            dims = None if dims is None else [*dims, dim]
        except ValueError as exc:
            st.warning(plain(exc))
            dims = None
    return dims


def _title(name: str) -> str:
    from core.lab.whatif import AXES

    return AXES[name].title if name in AXES else RUN_OPTIONS[name].label


def budget_inputs() -> dict:
    c1, c2 = st.columns(2)
    st.session_state.setdefault(f"{P}_trials", 20)
    trials = c1.number_input("Trials", 1, MAX_TRIALS, key=f"{P}_trials")
    st.session_state.setdefault(f"{P}_minutes", 5.0)
    minutes = c2.number_input("Minutes (0 = no limit)", 0.0, 24 * 60.0, step=1.0, key=f"{P}_minutes")
    st.session_state.setdefault(f"{P}_pruner", "halving")
    pruner = st.selectbox("Pruner", list(PRUNERS), format_func=PRUNERS.get, key=f"{P}_pruner")
    c3, c4 = st.columns(2)
    most_params = c3.number_input("At most parameters (0 = any)", 0.0, 1e12, step=10_000.0, key=f"{P}_max_parameters")
    most_ms = c4.number_input("At most latency, ms (0 = any)", 0.0, 1e6, step=0.1, key=f"{P}_max_latency")
    limits = {"parameters": most_params, "latency_ms": most_ms}
    return {
        "trials": int(trials),
        "minutes": float(minutes) or None,
        "pruner": pruner,
        "limits": {k: float(v) for k, v in limits.items() if v},
    }


def tune_section(task: str, model: str, dataset: str, options: dict, gradient: bool) -> None:
    """The whole Tune section of the what-if lab, under the race."""
    share()
    st.subheader(":material/tune: Tune")
    st.caption(
        "Let Optuna search: it picks settings (TPE), trains each trial in the background on the training split, "
        "scores it on the **validation** split epoch by epoch and stops the ones falling behind (pruning). The best "
        "trial is then trained once more and tested: the only time the test split is read."
    )
    if not gradient:
        st.info(f"{model} is fitted in closed form: it has no training settings to tune.")
        return
    try:
        base = make_config(task, model, dataset=dataset, **options)
    except ValueError as exc:  # the base setup's own warning says what is wrong with it
        st.caption(f"Fix the base setup first: {plain(exc)}")
        return
    pick, show = st.columns([1, 2], gap="medium")
    with pick.container(border=True):
        dims = search_inputs(task, model, base)
        budget = budget_inputs()
        spec = None
        try:
            spec = TuneSpec(base, dims, **budget) if dims is not None else None
        except ValueError as exc:
            st.warning(plain(exc))
        url = storage_url(get_store().root)
        if st.button("Tune", type="primary", icon=":material/tune:", key=f"{P}_btn", disabled=spec is None):
            try:
                tuner = start_tune(spec, url, get_jobs(), session_id(), client_address())
                st.session_state[f"{P}_study"] = tuner.name
            except ValueError as exc:
                st.error(plain(exc))
    with show:
        study_view(task, url)


def study_view(task: str, url: str) -> None:
    names = [n for n in study_names(url) if n.startswith(f"{task}-")]
    if not names:
        st.caption("No tune of this task yet.")
        return
    key = f"{P}_study"
    if st.session_state.get(key) not in names:
        st.session_state[key] = names[0]  # a reload finds the newest study, running or not
    name = st.selectbox("Study", names, key=key)
    if running_tuner(name) is not None:
        live_study(name, url)
    else:
        study_panel(name, url)


@st.fragment(run_every=2.0)
def live_study(name: str, url: str) -> None:
    """Redrawn on its own every 2 s while the study runs; the rest of the page stays usable."""
    if running_tuner(name) is None:
        st.rerun(scope="app")
    study_panel(name, url)


def study_panel(name: str, url: str) -> None:
    """A study's state, its trials, the best run once tested, and Optuna's plots."""
    study = load_study(name, url)
    spec, attrs, tuner = spec_of(study), study.user_attrs, running_tuner(name)
    state = "running" if tuner is not None else attrs.get("state", "stopped")
    c1, c2 = st.columns([3, 1])
    c1.markdown(f"**{state}** · {' · '.join(spec.dims)} · budget {spec.trials} trials" + _minutes(spec))
    if tuner is not None and c2.button("Stop tune", key=f"{P}_stop_btn", width="stretch"):
        tuner.stop()
    if tuner is None and (orphaned(study) or state == "stopped"):
        st.caption("The study stopped before its budget was spent (Stop, or a restart); Resume goes on from storage.")
        if c2.button("Resume", key=f"{P}_resume_btn", width="stretch"):
            start_tune(spec, url, get_jobs(), session_id(), client_address())
    rows = trials_table(study)
    if rows:
        trials = pd.DataFrame(rows).rename(columns={"value": spec.metric})
        st.dataframe(trials, hide_index=True, key=f"{P}_trials_table")
    best_run = attrs.get("best_run")
    if best_run:
        best_link(study, best_run, task=spec.task)
    elif attrs.get("best_error"):
        st.warning(attrs["best_error"])
    optuna_plots(study, spec)


def _minutes(spec: TuneSpec) -> str:
    return f" or {spec.minutes:g} min" if spec.minutes else ""


def best_link(study, run_id: str, task: str) -> None:
    from core.eval.metric_info import format_metric

    run = get_store().get(run_id) or {}
    primary = get_task(task).spec.primary_metric
    best = study.trials[study.user_attrs["best_trial"]]
    settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in best.params.items())
    st.success(
        f"Best: trial {best.number} ({settings}), validation {best.value:.4f}; trained once more and tested: "
        f"test {primary} **{format_metric(primary, (run.get('metrics') or {}).get(primary))}** (run {run_id})."
    )
    st.page_link(
        "app_pages/runs.py",
        label="Open the best run on the Runs page (its settings, CLI command and link)",
        icon=":material/emoji_events:",
        query_params={"selected": [run_id]},
    )


def optuna_plots(study, spec: TuneSpec) -> None:
    """Optuna's own views: optimisation history, parallel coordinates, parameter importances."""
    from optuna.trial import TrialState
    from optuna.visualization import plot_optimization_history, plot_parallel_coordinate, plot_param_importances

    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if complete < 1:
        return
    tabs = st.tabs(["Optimisation history", "Parallel coordinates", "Parameter importances"])
    figures = [plot_optimization_history, plot_parallel_coordinate]
    for tab, plot, name in zip(tabs, figures, ("history", "parallel")):
        with tab:
            st.plotly_chart(plot(study), key=f"{P}_plot_{name}")
    with tabs[2]:
        if complete < 2 or len(spec.dims) < 2:
            st.caption("Importances need at least two finished trials and two settings searched.")
        else:
            cache = st.session_state.setdefault(f"{P}_importance", {})
            if cache.get("at") != (study.study_name, complete):  # a forest fitted again only when a trial ends
                cache.update(at=(study.study_name, complete), figure=plot_param_importances(study))
            st.plotly_chart(cache["figure"], key=f"{P}_plot_importance")

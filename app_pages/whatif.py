"""What-if lab: a base setup, one or two things varied, the variants raced in the background, a verdict."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from core.eval.compare import COSTS, epoch_band, pareto_front, primary_metric, summary_text, variant_stats, verdict
from core.exec.jobs import MAX_ACTIVE
from core.lab.whatif import (
    AXES,
    LR_CHOICES,
    MAX_RUNS,
    MAX_SEEDS,
    OPTIMIZER_NAMES,
    at_best_lr,
    available_axes,
    default_model,
    expand,
    searches_lr,
    snapshots,
    submit_race,
)
from core.models import get_spec, list_models
from core.run.config import RUN_OPTIONS, make_config
from core.run.lr_search import OWN_LR_NOTE, SEARCH_EXTEND, SEARCH_FRACTION, SEARCH_POINTS, search_note
from core.run.training import OPTIMIZERS
from core.tasks import get_task, task_specs
from core.views.charts import band_curves_figure, pareto_figure
from ui.services import client_address, get_jobs, get_store, keep_settings, session_id
from ui.share import flag, int_in, list_of, one_of, parser_for, share_settings, text
from ui.text import plain
from ui.training_panel import BATCH_SIZES, TRAINING_SETTINGS, apply_defaults, finished_runs, training_controls
from ui.tune import tune_section

P = "whatif"
TITLES = {spec.name: spec.title for spec in task_specs()}
TASKS = list(TITLES)
ALL_MODELS = sorted({m for t in TASKS for m in list_models(t)})
DONE = ("finished", "stopped", "failed", "diverged", "cancelled", "interrupted", "crashed", "deleted")


def _state(name: str):
    return st.session_state.get(f"{P}_{name}")


def _on_task_change() -> None:
    task = st.session_state[f"{P}_task"]
    st.session_state[f"{P}_dataset"] = get_task(task).spec.dataset_names[0]
    st.session_state[f"{P}_model"] = default_model(task)
    _on_model_change()


def _on_model_change() -> None:
    apply_defaults(P, make_config(_state("task"), _state("model")))


def _keep_valid(key: str, options: list, default) -> None:
    """A remembered or linked value that is not an option any more falls back to the default."""
    value = st.session_state.get(key)
    if isinstance(default, list):
        kept = [v for v in value if v in options] if isinstance(value, list) else []
        # an emptied multiselect stays empty; one whose values all went away starts again from the default
        st.session_state[key] = kept if kept or value == [] else [d for d in default if d in options]
    elif value not in options:
        st.session_state[key] = default


def base_section() -> tuple[str, str, str, dict, bool]:
    _keep_valid(f"{P}_task", TASKS, TASKS[0])
    task = st.selectbox("Task", TASKS, format_func=TITLES.get, key=f"{P}_task", on_change=_on_task_change)
    datasets = get_task(task).spec.dataset_names
    _keep_valid(f"{P}_dataset", datasets, datasets[0])
    dataset = st.selectbox("Dataset", datasets, key=f"{P}_dataset")
    models = list_models(task)
    _keep_valid(f"{P}_model", models, default_model(task))
    model = st.selectbox("Base model", models, key=f"{P}_model", on_change=_on_model_change)
    spec = get_spec(task, model)
    st.caption(spec.description)
    gradient = not spec.closed_form
    with st.expander("Base training settings", expanded=False):
        options = training_controls(P, make_config(task, model), closed_form=spec.closed_form)
    return task, dataset, model, options, gradient


def _source_runs(task: str, model: str) -> dict[str, str]:
    runs = [r for r in finished_runs(task) if r["model"] == model]
    return {r["id"]: f"{r['model']} on {r['dataset']} · {r['id']}" for r in runs[:20]}


def axis_values(axis: str, task: str, model: str) -> list:
    """The value picker for one axis; on/off switches race both sides."""
    key = f"{P}_values_{axis}"
    title = f"{AXES[axis].title}: values to race"
    if axis in ("batch_norm", "separable", "attention"):
        st.caption(f"Races **{AXES[axis].describe(False)}** against **{AXES[axis].describe(True)}**.")
        return [False, True]
    if axis == "init_from":
        sources = _source_runs(task, model)
        if not sources:
            st.caption(f"No finished {model} run to fine-tune from yet: train one on its page first.")
        options = ["", *sources]
        _keep_valid(key, options, options[:2])
        picked = st.multiselect(title, options, format_func=lambda r: sources.get(r, "from scratch"), key=key)
        return [r or None for r in picked]
    choices = {
        "optimizer": (list(OPTIMIZERS), ["sgd", "adam"], OPTIMIZER_NAMES.get),
        "lr": (LR_CHOICES, [1e-3, 1e-2], lambda v: f"{v:g}"),
        "batch_size": (BATCH_SIZES, [32, 256], str),
        "model": (list_models(task), [model, *[m for m in list_models(task) if m != model][:1]], str),
    }
    options, default, fmt = choices[axis]
    _keep_valid(key, options, default)
    return st.multiselect(title, options, format_func=fmt, key=key)


def vary_section(task: str, model: str, gradient: bool) -> dict[str, list]:
    axes = available_axes(task, model, gradient)
    _keep_valid(f"{P}_axis1", axes, axes[0])
    first = st.selectbox("Vary", axes, format_func=lambda a: AXES[a].title, key=f"{P}_axis1")
    chosen = {first: axis_values(first, task, model)}
    others = ["", *[a for a in axes if a != first]]
    _keep_valid(f"{P}_axis2", others, "")
    second = st.selectbox(
        "…and also (optional)", others, format_func=lambda a: AXES[a].title if a else "nothing else", key=f"{P}_axis2"
    )
    if second:
        chosen[second] = axis_values(second, task, model)
    return chosen


def start_race(plan, task: str) -> None:
    """Queue the race; a full queue raises ValueError (shown where the race section's errors are) before any run."""
    jobs, limit = get_jobs(), MAX_RUNS + MAX_ACTIVE
    st.session_state[f"{P}_race"] = submit_race(plan, task, jobs, session_id(), limit, client_address())


def race_snapshots(race: dict) -> dict[str, list[dict]]:
    return snapshots(race, get_jobs(), get_store())


def curves_key(task: str, snaps: dict[str, list[dict]]) -> tuple[str, str, bool]:
    metric = primary_metric(task)
    keys = {k for seeds in snaps.values() for s in seeds for h in s["history"] for k in h}
    if f"val_{metric.name}" in keys:
        return f"val_{metric.name}", f"validation {metric.title}", metric.percent
    return "val_loss", "validation loss", False


def race_curves(task: str, snaps: dict[str, list[dict]], key: str) -> None:
    metric_key, title, percent = curves_key(task, snaps)
    bands = {label: epoch_band([s["history"] for s in seeds], metric_key) for label, seeds in snaps.items()}
    # a variant done after one epoch (a model fitted in one pass) has a point, not a curve: the table has its score
    points = [
        label
        for label, band in bands.items()
        if len(band.epochs) == 1 and all(s["status"] in DONE for s in snaps[label])
    ]
    curves = {label: band for label, band in bands.items() if band.epochs and label not in points}
    if curves:
        st.plotly_chart(band_curves_figure(curves, title, percent), key=key)
    if points:
        st.caption(f"No curve for {', '.join(points)}: one epoch, or fitted in one pass. The table has the scores.")


def progress_table(snaps: dict[str, list[dict]]) -> None:
    rows = []
    for label, seeds in snaps.items():
        searched = [s.get("searched") or (0, 0) for s in seeds]  # a learning-rate search's epochs, before the fit
        total = sum((s.get("epochs") or 1) + of for s, (_, of) in zip(seeds, searched))
        done = sum(
            (s.get("epochs") or 1) + of if s["status"] in DONE else s.get("epoch", 0) + n
            for s, (n, of) in zip(seeds, searched)
        )
        counts = pd.Series([_doing(s) for s in seeds]).value_counts()
        rows.append(
            {
                "variant": label,
                "progress": 100 * done / max(total, 1),
                "status": " · ".join(f"{n} {status}" for status, n in counts.items()),
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={"progress": st.column_config.ProgressColumn("progress", format="%.0f%%", max_value=100)},
        key=f"{P}_progress",
    )


def _doing(snap: dict) -> str:
    """A run's status, with 'searching lr' while a running one tries learning rates before its fit."""
    searched = snap.get("searched")
    if snap["status"] == "running" and searched and searched[0] < searched[1] and not snap.get("epoch"):
        return "searching lr"
    return snap["status"]


@st.fragment(run_every=1.0)
def live_race() -> None:
    """Redrawn every second on its own while the race runs; the rest of the page stays usable."""
    race = st.session_state.get(f"{P}_race")
    if race is None:
        return
    snaps = race_snapshots(race)
    if all(s["status"] in DONE for seeds in snaps.values() for s in seeds):
        st.rerun(scope="app")
    running = sum(s["status"] == "running" for seeds in snaps.values() for s in seeds)
    queued = sum(s["status"] == "queued" for seeds in snaps.values() for s in seeds)
    st.caption(f"{running} training now, {queued} queued · curves are the mean over seeds, bands ± one std.")
    progress_table(snaps)
    race_curves(race["task"], snaps, f"{P}_live_curves")


def results_table(stats, seeds: list[int], metric, front: list[bool]) -> None:
    """One row per variant; `seeds`: the runs each variant queued."""
    rows = []
    scale = 100 if metric.percent else 1  # percent metrics in points, all with the same decimals
    for s, queued, on_front in zip(stats, seeds, front):
        rows.append(
            {
                "variant": s.label,
                "seeds": f"{s.n}/{queued}",
                metric.name: s.mean * scale,
                "± std": s.std * scale if s.n > 1 else None,
                "parameters": s.costs.get("parameters"),
                "latency (ms)": s.costs.get("latency_ms"),
                "training (s)": s.costs.get("train_seconds"),
                "Pareto front": "★" if on_front else "",
            }
        )
    fmt = "%.1f%%" if metric.percent else "%.4f"
    st.dataframe(
        pd.DataFrame(rows).sort_values(metric.name, ascending=not metric.higher_is_better, na_position="last"),
        hide_index=True,
        column_config={
            metric.name: st.column_config.NumberColumn(metric.title, format=fmt),
            "± std": st.column_config.NumberColumn("± std", format=fmt),
            "parameters": st.column_config.NumberColumn("parameters", format="compact"),
            "latency (ms)": st.column_config.NumberColumn("latency (ms)", format="%.3f"),
            "training (s)": st.column_config.NumberColumn("training (s)", format="%.2f"),
        },
        placeholder="–",  # one seed: no spread
        key=f"{P}_results",
    )


def race_results(race: dict, snaps: dict[str, list[dict]]) -> None:
    store, metric = get_store(), primary_metric(race["task"])
    records = {label: [store.get(s["run_id"]) for s in seeds] for label, seeds in snaps.items()}
    done = {label: [r for r in recs if r and r["status"] == "finished"] for label, recs in records.items()}
    searched = {label: [r for r in runs if r["details"].get("lr_search")] for label, runs in done.items()}
    stats = [  # with each run's stored test predictions, for the paired test on the same test examples
        variant_stats(
            at_best_lr(label, [r["details"]["lr_search"]["chosen"] for r in searched[label]]),  # "SGD at its best lr…"
            [r["metrics"] for r in runs],
            metric.name,
            [store.load_artifacts(r["id"]) for r in runs],
        )
        for label, runs in done.items()
    ]
    result = verdict(stats, metric)
    summary = summary_text(result)
    if result is not None and result.clear:
        st.success(summary, icon=":material/emoji_events:")
    else:
        st.info(summary, icon=":material/balance:")
    if any(searched.values()):
        st.caption(OWN_LR_NOTE)
        with st.expander("How each learning rate was chosen"):
            for label, runs in searched.items():
                for r in runs:
                    note = search_note(r["details"]["lr_search"])
                    st.markdown(f"- **{label}** · seed {r['config'].seed}: {note}")
    for label, recs in records.items():
        for r in recs:
            if r and r["status"] in ("failed", "diverged", "interrupted", "crashed"):
                st.error(f"{label} · seed {r['config'].seed}: {plain(r['error'])}")
    st.session_state.setdefault(f"{P}_cost", "train_seconds")
    cost = st.segmented_control("Cost", list(COSTS), format_func=lambda c: COSTS[c], key=f"{P}_cost")
    cost = cost or "train_seconds"
    front = pareto_front([(s.mean, s.costs.get(cost, math.nan)) for s in stats], metric.higher_is_better)
    results_table(stats, [len(snaps[label]) for label in done], metric, front)
    left, right = st.columns(2, gap="medium")
    with left:
        title = metric.title[0].upper() + metric.title[1:]
        st.markdown(f"**{title} vs {COSTS[cost]}** · ★ = Pareto front (nothing beats it on both)")
        points = [  # named as the curves are: the table and the verdict say at which lr
            {"label": label, "metric": s.mean, "std": s.std, "cost": s.costs.get(cost, math.nan), "front": f}
            for label, s, f in zip(done, stats, front)
            if s.n
        ]
        fig = pareto_figure(points, COSTS[cost], f"test {metric.title}", metric.percent, log_x=cost == "parameters")
        st.plotly_chart(fig, key=f"{P}_pareto")
    with right:
        st.markdown("**Validation curves** · mean over seeds, bands ± one std")
        race_curves(race["task"], snaps, f"{P}_final_curves")
    run_ids = [s["run_id"] for seeds in snaps.values() for s in seeds if s["status"] == "finished"]
    if run_ids:
        st.page_link(
            "app_pages/runs.py",
            label="Compare these runs side by side on the Runs page",
            icon=":material/compare_arrows:",
            query_params={"selected": run_ids[:8]},
        )


def race_section(plan, task: str, race_active: bool) -> None:
    st.markdown(f"**{len(plan.variants)} variants × {_state('seeds')} seed(s) = {plan.runs} runs**")
    for v in plan.variants:
        st.markdown(f"- {v.label}")
    for note in plan.skipped:
        st.caption(f"Skipped: {note}")
    if plan.search_runs:
        st.caption(
            f"Each run first tries {SEARCH_POINTS} learning rates ({SEARCH_EXTEND} more when the best is at an edge) "
            f"for 1/{SEARCH_FRACTION} of its epochs on the validation split, then trains at the best: "
            f"{plan.search_runs} short runs more, about as much training again as the race."
        )
    workers = get_jobs().max_workers
    st.caption(f"{workers} train at once, the rest wait in the queue. Training goes on if you leave this page.")
    too_many = plan.runs > MAX_RUNS
    if too_many:
        st.warning(f"At most {MAX_RUNS} runs per race: fewer values or seeds, please.")
    c1, c2 = st.columns(2)
    if c1.button(
        "Race",
        type="primary",
        icon=":material/sports_score:",
        key=f"{P}_race_btn",
        disabled=race_active or too_many or not plan.runs,
        width="stretch",
    ):
        start_race(plan, task)
        st.rerun()
    if race_active and c2.button("Stop race", key=f"{P}_stop_btn", width="stretch"):
        race = st.session_state[f"{P}_race"]
        for entries in race["variants"].values():
            for entry in entries:
                get_jobs().stop(entry["job"])


keep_settings()
share_settings(
    P,
    {
        "task": one_of(TASKS),
        "dataset": text,
        "model": one_of(ALL_MODELS),
        **{name: parser_for(RUN_OPTIONS[name]) for name in TRAINING_SETTINGS},
        "axis1": one_of(list(AXES)),
        "axis2": one_of(["", *AXES]),
        "values_optimizer": list_of(one_of(OPTIMIZERS)),
        "values_lr": list_of(one_of(LR_CHOICES)),
        "values_batch_size": list_of(one_of(BATCH_SIZES)),
        "values_model": list_of(one_of(ALL_MODELS)),
        "values_init_from": list_of(text),
        "seeds": int_in(1, MAX_SEEDS),
        "own_lr": flag,
    },
)
st.title(":material/science: What-if lab")
st.caption(
    "What happens if…? Pick a base setup, vary one or two things, and race the variants on this machine. "
    "Curves overlay live; the verdict says who won, by how much, and whether a stated test can tell the gap from luck."
)
if not TASKS:
    st.info("No task is built yet.")
    st.stop()

race = st.session_state.get(f"{P}_race")
snaps = race_snapshots(race) if race else {}
active = any(s["status"] not in DONE for seeds in snaps.values() for s in seeds)
base_col, vary_col, race_col = st.columns(3, gap="medium")
with base_col.container(border=True):
    st.markdown("**1 · Base setup**")
    task, dataset, model, options, gradient = base_section()
with vary_col.container(border=True):
    st.markdown("**2 · What varies**")
    axes = vary_section(task, model, gradient)
    st.session_state.setdefault(f"{P}_seeds", 2)
    st.number_input(
        "Seeds per variant",
        1,
        MAX_SEEDS,
        key=f"{P}_seeds",
        help="Each variant trains once per seed (base seed, +1, …): the spread shows what is luck.",
    )
    if searches_lr(axes):
        st.session_state.setdefault(f"{P}_own_lr", True)
        st.toggle(
            "Each variant at its own best learning rate",
            key=f"{P}_own_lr",
            help="What is varied here changes the learning rate that suits it (plain SGD wants a larger one than "
            "Adam): each run first tries a few on the validation split and trains at the best. Off: every variant "
            "trains at the base learning rate.",
        )
with race_col.container(border=True):
    st.markdown("**3 · Race**")
    try:
        own_lr = bool(_state("own_lr")) and searches_lr(axes)
        plan = expand(make_config(task, model, dataset=dataset, **options), axes, int(_state("seeds")), own_lr)
        race_section(plan, task, active)
    except ValueError as exc:
        st.warning(plain(exc))

if race:
    st.subheader("Race" if active else "Verdict")
    if active:
        live_race()
    else:
        race_results(race, snaps)

st.divider()
tune_section(task, model, dataset, options, gradient)

"""Recommendation: ratings in, personal top-10 lists out, measured the way the field measures them."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.charts import item_map_figure, popularity_bias_figure
from core.data import DataError
from core.data.interactions import DUPLICATE_RULE
from core.models import describe_model, list_models
from core.recsys_explore import (
    FOLD_IN,
    evaluated_users,
    item_map,
    items_to_rate,
    popularity_curve,
    popularity_summary,
    recommend_for_user,
    recommend_for_visitor,
    runs_table,
    stars_to_rating,
    user_history,
)
from core.tasks import get_task, split_seed
from core.tasks.recsys import DATASETS, DEFAULTS, MODEL_OPTIONS, RANKING_PROTOCOL, RATING_PROTOCOL, trains_by_gradient
from ui.results_panel import COST_LABELS, RANKING_LABELS, RATING_LABELS, metric_row, results_panel
from ui.services import get_store, keep_settings, run_model
from ui.share import TRAINING_SETTINGS, one_of, share_settings, text
from ui.training_panel import apply_defaults, training_controls, training_panel
from ui.uploads import load_and_preview

P = "recsys"
OWN = "your own (CSV/TSV of ratings)"
TASK = get_task("recsys")
USER_DATA = Path(os.environ.get("DLSTUDIO_USER_DATA", "user_data"))
MODELS = list_models("recsys")
TABLE_TYPES = ["csv", "tsv", "dat", "data", "txt"]
OPTION_LABELS = {
    "k": "Neighbours per item",
    "shrink": "Similarity shrinkage",
    "reg": "Regularisation (L2)",
    "dim": "Embedding size",
    "rank_weight": "Ranking-loss weight",
    "negatives": "Negatives per positive",
    "dropout": "Dropout",
    "max_len": "History length",
    "blocks": "Attention blocks",
    "heads": "Attention heads",
}

SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}
REC_COLUMNS = {
    "#": st.column_config.NumberColumn(width=40),
    "test": st.column_config.TextColumn("test", width=50, help="✓: one of the user's held-out test items"),
    "title": st.column_config.TextColumn(width="medium"),
    "genres": st.column_config.TextColumn(width="medium"),
    "because you liked": st.column_config.TextColumn(width="large"),
}


@st.cache_resource(show_spinner="Loading ratings…", max_entries=4)
def load_data(dataset: str | None, data: str | None, split_seed: int = 0):
    return TASK.load_data({"dataset": dataset, "data": data, "split_seed": split_seed})


def run_data(run: dict):
    """The data a run was trained on, split as it was; None (with the reason shown) when it cannot be read now."""
    config = run["config"]
    try:
        return load_data(config.get("dataset"), config.get("data"), split_seed(config))
    except DataError as exc:
        st.error(f"The data of run {run['id']} cannot be read any more: {exc}")
        return None


def save_uploads(ratings, items) -> Path:
    """Keep the uploaded interactions (and items) file in one folder under user_data/, named by content, so the
    loader finds the items file beside the ratings and error messages name the file as it was uploaded."""
    blobs = ratings.getvalue(), items.getvalue() if items is not None else b""
    folder = USER_DATA / "recsys" / hashlib.sha1(blobs[0] + b"\0items\0" + blobs[1]).hexdigest()[:12]
    name = re.sub(r"[^\w.-]", "_", Path(ratings.name).name)[:80] or "ratings.csv"
    if items is not None and name.lower().startswith("items."):
        name = f"ratings{Path(name).suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        path.write_bytes(blobs[0])
    if items is not None and not (folder / "items.csv").exists():
        (folder / "items.csv").write_bytes(blobs[1])  # the loader sniffs the format; the name only says "items"
    return path


def data_section() -> tuple[str | None, str | None]:
    choice = st.selectbox("Dataset", [*DATASETS, OWN], key=f"{P}_dataset")
    if choice != OWN:
        st.caption(DATASETS[choice])
        return choice, None
    ratings = st.file_uploader(
        "Interactions: user, item, rating[, timestamp] (MovieLens u.data, ratings.dat, ratings.csv load as they are)",
        type=TABLE_TYPES,
        key=f"{P}_upload_file",
    )
    items = st.file_uploader(
        "Items (optional): item, title[, genres] — or u.item, movies.dat, movies.csv",
        type=[*TABLE_TYPES, "item"],
        key=f"{P}_items_file",
    )
    path = st.text_input("…or a file or folder on this machine", key=f"{P}_path", placeholder="/path/to/ml-100k")
    if ratings is not None:
        return None, str(save_uploads(ratings, items))
    return None, path.strip() or None


def data_preview(data) -> None:
    sizes = {s: len(p) for s, p in data.splits.items()}
    st.caption(
        f"{data.n_users:,} users · {data.n_items:,} items · {sum(sizes.values()):,} ratings "
        f"({data.meta['rating_min']:g}–{data.meta['rating_max']:g}) · "
        + " / ".join(f"{k} {v:,}" for k, v in sizes.items())
    )
    for note in data.notes:
        st.caption(f":material/info: {note}")


def model_section() -> tuple[str, dict]:
    # ease by default: the best top-10 here, fitted in a second; the others train with live curves
    st.session_state.setdefault(f"{P}_model", "ease")
    model = st.selectbox(
        "Model",
        MODELS,
        key=f"{P}_model",
        on_change=lambda: apply_defaults(P, DEFAULTS.get(st.session_state[f"{P}_model"], {})),
    )
    st.caption(describe_model("recsys", model))
    options = {}
    with st.expander("Model settings"):
        for name, default in MODEL_OPTIONS[model].items():
            label, key = OPTION_LABELS.get(name, name), f"{P}_{model}_{name}"
            st.session_state.setdefault(key, default)
            if isinstance(default, int):
                options[name] = int(st.number_input(label, 1, 100_000, key=key))
            else:
                step = 0.05 if default < 1 else 1.0
                options[name] = float(st.number_input(label, 0.0, 1e6, step=step, format="%g", key=key))
    return model, {"model_options": options}


def show_metrics(run: dict) -> None:
    """The numbers with their protocol next to them: top-10 ranking, rating error, what the model costs."""
    metrics, details = run["metrics"], run["details"]
    st.markdown(
        f"**Top-10 ranking** · {RANKING_PROTOCOL}; mean over {details.get('test_users', 0):,} test users. "
        "Coverage: share of the catalogue in anyone's top-10."
    )
    metric_row(metrics, RANKING_LABELS)
    if "rmse" in metrics:
        st.markdown(f"**Rating prediction** · {RATING_PROTOCOL}.")
    rating, cost = st.columns([2, 4]) if "rmse" in metrics else (None, st.container())
    if rating is not None:
        with rating:
            metric_row(metrics, RATING_LABELS)
    with cost:
        metric_row(metrics, COST_LABELS)
    for note in details.get("notes", []):
        st.caption(f":material/info: {note}")


def user_tab(run: dict) -> None:
    data = run_data(run)
    if data is None:
        return
    model, _ = run_model(run["id"])
    users = evaluated_users(data)
    per_user = np.diff(data.matrices["train"].indptr)
    user = st.selectbox(
        "User",
        users.tolist(),
        format_func=lambda u: f"user {data.user_ids[u]} · {per_user[u]} ratings in training",
        key=f"{P}_user",
    )
    if user is None:
        return
    recs = recommend_for_user(model, data, int(user))
    hits = sum(r["in_test"] for r in recs)
    st.markdown(
        f"**Top-10** · ranked over every item this user has not rated in training or validation; "
        f"{hits} of them are among the user's held-out test items (✓)"
    )
    st.dataframe(recs_table(recs, show_hits=True), hide_index=True, key=f"{P}_user_top", column_config=REC_COLUMNS)
    history = user_history(data, int(user))
    history = history.iloc[np.lexsort((-history["rating"].to_numpy(), history["split"].map(SPLIT_ORDER).to_numpy()))]
    st.markdown(f"**History** · {len(history)} ratings; the model saw the training ones")
    st.dataframe(
        history[["title", "genres", "rating", "split"]],
        hide_index=True,
        height=300,
        key=f"{P}_history",
        column_config={
            "title": st.column_config.TextColumn(width="large"),
            "genres": st.column_config.TextColumn(width="medium"),
            "rating": st.column_config.NumberColumn(format="%.1f ★", width="small"),
            "split": st.column_config.TextColumn(width="small"),
        },
    )


def recs_table(recs: list[dict], show_hits: bool = False) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "#": range(1, len(recs) + 1),
            "test": ["✓" if r["in_test"] else "" for r in recs],
            "title": [r["title"] for r in recs],
            "genres": [r["genres"] for r in recs],
            "because you liked": [" · ".join(r["because"]) for r in recs],
        }
    )
    return table if show_hits else table.drop(columns="test")


def visitor_tab(run: dict) -> None:
    data = run_data(run)
    if data is None:
        return
    model, _ = run_model(run["id"])
    picks = items_to_rate(data, 12)
    keys = {i: f"{P}_visit_{data.item_ids[i]}" for i in picks}
    st.caption(
        f"Rate a few of these popular items (one star = disliked, five = loved); the top-10 updates at once. "
        f"Cold start: you are not in the training data, so **{run['model']}** {FOLD_IN.get(run['model'], '')}."
    )
    cols = st.columns(4)
    for n, item in enumerate(picks):
        with cols[n % 4].container(border=True, height=150):
            st.markdown(f"**{data.titles[item]}**")
            st.caption(data.genres[item].replace("|", " · ") or " ")
            st.feedback("stars", key=keys[item])
    stars = {i: st.session_state.get(k) for i, k in keys.items()}
    rated = {i: stars_to_rating(s, data.meta) for i, s in stars.items() if s is not None}
    st.button("Start over", key=f"{P}_visit_reset_btn", on_click=_forget, args=(list(keys.values()),))
    if not rated:
        st.info("Rate at least one item to get recommendations.")
        return
    recs = recommend_for_visitor(model, data, rated)
    st.markdown(f"**Your top-10** · from {len(rated)} rating{'s' if len(rated) > 1 else ''}")
    st.dataframe(recs_table(recs), hide_index=True, key=f"{P}_visitor_top", column_config=REC_COLUMNS)


def _forget(keys: list[str]) -> None:
    for key in keys:
        st.session_state.pop(key, None)
        st.session_state.pop(f"_keep_{key}", None)


@st.cache_data(show_spinner="Placing the items…", max_entries=8)
def cached_item_map(run_id: str, method: str) -> pd.DataFrame | None:
    run = get_store().get(run_id)
    model, _ = run_model(run_id)
    data = run_data(run)
    return None if data is None else item_map(model, data, method)


def map_tab(run: dict) -> None:
    if run_data(run) is None:
        return
    method = st.radio(
        "Projection",
        ["pca", "tsne"],
        format_func={"pca": "PCA", "tsne": "t-SNE (slower)"}.get,
        key=f"{P}_map_method",
        horizontal=True,
    )
    frame = cached_item_map(run["id"], method)
    if frame is None:
        st.info(f"{run['model']} has no item vectors to draw: try mf, bpr, neumf, sasrec, itemknn or ease.")
        return
    st.caption(
        "Every item placed by its learned vector, squeezed to two dimensions; items close together are ones the "
        "model treats alike. Colour: the item's first genre; size: how often it was rated in training."
    )
    st.plotly_chart(item_map_figure(frame), key=f"{P}_item_map")


def popularity_tab(run: dict) -> None:
    data = run_data(run)
    if data is None:
        return
    top = get_store().load_artifacts(run["id"]).get("top")
    if top is None:
        st.info("This run kept no top-10 lists.")
        return
    summary = popularity_summary(top, data.item_counts)
    c1, c2, c3 = st.columns(3)
    c1.metric("Top-10 slots from the 10% most popular items", f"{summary['recommendations']:.1%}")
    c2.metric("Those items' share of the catalogue", f"{summary['catalogue']:.0%}")
    c3.metric("…and of training interactions", f"{summary['interactions']:.1%}")
    st.caption(
        "Items ranked by how often they were rated in training and cut into tenths; bars compare each tenth's "
        "share of the ratings with its share of everyone's top-10 (test users). A recommender without popularity "
        "bias would follow the ratings; one that only recommends hits piles up on the left."
    )
    st.plotly_chart(popularity_bias_figure(popularity_curve(top, data.item_counts)), key=f"{P}_popularity")


def all_runs_tab(run: dict) -> None:
    table = runs_table(get_store().list("recsys"))
    st.caption(
        f"Every finished recommendation run, on its own test split ({RANKING_PROTOCOL}). "
        "Compare rows of the same dataset only. Top-10% share: see Popularity bias."
    )
    table.insert(0, "", np.where(table["run"] == run["id"], "▶", ""))
    columns = {c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[4:]}
    columns[""] = st.column_config.TextColumn(width=30, help="▶: the run shown above")
    columns["Train s"] = st.column_config.NumberColumn(format="%.1f")
    st.dataframe(
        table[[c for c in table.columns if c != "run"] + ["run"]],
        hide_index=True,
        column_config=columns,
        key=f"{P}_all_runs",
    )


keep_settings()
share_settings(
    P,
    {
        "dataset": one_of([*DATASETS, OWN]),
        "path": text,
        "model": one_of(MODELS),
        **TRAINING_SETTINGS,
    },
)
st.title(":material/movie: Recommendation")
st.caption(
    "Train a recommender on ratings and look at the personal top-10 lists it makes. Every number is on held-out "
    "ratings, with the protocol named beside it."
)

data_col, model_col, train_col = st.columns(3, gap="medium")
with data_col.container(border=True):
    st.markdown("**1 · Data**")
    dataset, data_path = data_section()
    data = None
    if dataset or data_path:
        data = load_and_preview(lambda: load_data(dataset, data_path), data_preview, data_path or dataset)
    else:
        st.info("Upload an interactions file or give a path to use your own ratings.")
    st.caption(f"Duplicates: {DUPLICATE_RULE}.")
with model_col.container(border=True):
    st.markdown("**2 · Model**")
    model, options = model_section()
with train_col.container(border=True):
    st.markdown("**3 · Training**")
    apply_defaults(P, DEFAULTS.get(model, {}), overwrite=False)
    options.update(training_controls(P, DEFAULTS.get(model, {}), gradient=trains_by_gradient(model)))

run_id = training_panel(P, "recsys", model, {**options, "dataset": dataset, "data": data_path}, disabled=data is None)
if run_id:
    results_panel(
        run_id,
        P,
        {
            "For a user": user_tab,
            "New visitor": visitor_tab,
            "Item map": map_tab,
            "Popularity bias": popularity_tab,
            "All models": all_runs_tab,
        },
        metrics_view=show_metrics,
    )

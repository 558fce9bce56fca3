"""The recommendation page's result tabs: a user's top-10, a new visitor, the item map, popularity, all models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.models import get_spec
from core.tasks.recsys import ranking_protocol
from core.tasks.recsys_explore import (
    evaluated_users,
    item_map,
    items_to_rate,
    popularity_curve,
    popularity_summary,
    recommend_for_user,
    recommend_for_visitor,
    run_protocol,
    runs_table,
    stars_to_rating,
    user_history,
)
from core.views.charts import item_map_figure, popularity_bias_figure
from ui.services import get_store, run_model
from ui.task_page import run_data
from ui.text import plain

P = "recsys"
SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}
REC_COLUMNS = {
    "#": st.column_config.NumberColumn(width=40),
    "test": st.column_config.TextColumn("test", width=50, help="✓: one of the user's held-out test items"),
    "title": st.column_config.TextColumn(width="medium"),
    "genres": st.column_config.TextColumn(width="medium"),
    "because you liked": st.column_config.TextColumn(width="large"),
}


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
    fold_in = get_spec(run["task"], run["model"]).fold_in
    st.caption(
        f"Rate a few of these popular items (one star = disliked, five = loved); the top-10 updates at once. "
        f"Cold start: you are not in the training data, so **{run['model']}** {fold_in}."
    )
    cols = st.columns(4)
    for n, item in enumerate(picks):
        with cols[n % 4].container(border=True, height=150):
            st.markdown(f"**{plain(data.titles[item])}**")
            st.caption(plain(data.genres[item].replace("|", " · ")) or " ")
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
    table = runs_table(get_store().list("recsys"), protocol=run_protocol(run))  # other protocols do not compare
    st.caption(
        f"Every finished recommendation run, on its own test split ({ranking_protocol(run_protocol(run))}). "
        "Compare rows of the same dataset only. Top-10% share: see Popularity bias."
    )
    table.insert(0, "", np.where(table["run"] == run["id"], "▶", ""))
    columns = {c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[5:]}
    columns[""] = st.column_config.TextColumn(width=30, help="▶: the run shown above")
    columns["Train s"] = st.column_config.NumberColumn(format="%.1f")
    st.dataframe(
        table[[c for c in table.columns if c != "run"] + ["run"]],
        hide_index=True,
        column_config=columns,
        key=f"{P}_all_runs",
    )

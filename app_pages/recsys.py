"""Recommendation: ratings in, personal top-10 lists out, measured the way the field measures them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import streamlit as st

from core.data.interactions import DUPLICATE_RULE
from core.eval.metric_info import METRICS
from core.tasks.recsys import ranking_protocol, rating_protocol
from ui.recsys_views import all_runs_tab, map_tab, popularity_tab, user_tab, visitor_tab
from ui.results_panel import metric_row
from ui.task_page import TaskPage, render
from ui.uploads import user_data_dir

P = "recsys"
TABLE_TYPES = ["csv", "tsv", "dat", "data", "txt"]
RANKING = ("precision@10", "recall@10", "ndcg@10", "hit@10", "map@10", "coverage@10")


def save_uploads(ratings, items) -> Path:
    """Keep the uploaded interactions (and items) file in one folder under user_data/, named by content, so the
    loader finds the items file beside the ratings and error messages name the file as it was uploaded."""
    blobs = ratings.getvalue(), items.getvalue() if items is not None else b""
    folder = user_data_dir() / "recsys" / hashlib.sha1(blobs[0] + b"\0items\0" + blobs[1]).hexdigest()[:12]
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


def data_preview(data) -> None:
    sizes = {s: len(p) for s, p in data.splits.items()}
    st.caption(
        f"{data.n_users:,} users · {data.n_items:,} items · {sum(sizes.values()):,} ratings "
        f"({data.meta['rating_min']:g}–{data.meta['rating_max']:g}) · "
        + " / ".join(f"{k} {v:,}" for k, v in sizes.items())
    )
    for note in data.notes:
        st.caption(f":material/info: {note}")


def show_metrics(run: dict) -> None:
    """The numbers with their protocol next to them: top-10 ranking, rating error, what the model costs."""
    metrics, details = run["metrics"], run["details"]
    protocol = run["config"].protocol
    st.markdown(
        f"**Top-10 ranking** · {details.get('ranking_protocol', ranking_protocol(protocol))}; "
        f"mean over {details.get('test_users', 0):,} test users. "
        "Coverage: share of the catalogue in anyone's top-10."
    )
    metric_row(run, RANKING)
    if "rmse" in metrics:
        st.markdown(f"**Rating prediction** · {details.get('rating_protocol', rating_protocol(protocol))}.")
    rating, cost = st.columns([2, 4]) if "rmse" in metrics else (None, st.container())
    if rating is not None:
        with rating:
            metric_row(run, ("rmse", "mae"))
    with cost:
        metric_row(run, [m.name for m in METRICS.values() if m.cost])
    for note in details.get("notes", []):
        st.caption(f":material/info: {note}")


def own_uploads() -> str | None:
    """Two files: the interactions and, optionally, the items (titles, genres)."""
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
    return str(save_uploads(ratings, items)) if ratings is not None else None


render(
    TaskPage(
        task=P,
        caption="Train a recommender on ratings and look at the personal top-10 lists it makes. Every number is "
        "on held-out ratings, with the protocol named beside it.",
        preview=data_preview,
        own_label="your own (CSV/TSV of ratings)",
        own_uploads=own_uploads,
        data_note=f"Duplicates: {DUPLICATE_RULE}.",
        tabs={
            "For a user": user_tab,
            "New visitor": visitor_tab,
            "Item map": map_tab,
            "Popularity bias": popularity_tab,
            "All models": all_runs_tab,
        },
        metrics_view=show_metrics,
    )
)

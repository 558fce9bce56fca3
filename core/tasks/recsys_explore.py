"""Exploring a trained recommender: one user's top-10 and why, a new visitor (cold start), the item map,
popularity bias, and all runs side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from core.eval.metric_info import metric
from core.eval.ranking import K, popular_share, top_k
from core.models import spec_of
from core.models.recsys import Recommender
from core.run.status import TESTED
from core.tasks.recsys import LIKE, SPEC, RecsysData, prepare

RUN_COLUMNS = {  # metric -> its column, labelled by the one metric table
    key: (metric(key).label if key != "train_seconds" else "Train s")
    for key in (*SPEC.headline[:6], "popular_share@10", "rmse", "mae", "train_seconds")
}


def _liked(items: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    """The items someone liked: rated 4 or more when there are such, else everything they rated."""
    good = items[ratings >= LIKE]
    return good if len(good) else items


def because_you_liked(
    model: Recommender, data: RecsysData, candidates: np.ndarray, history: np.ndarray, n: int = 2
) -> list[list[int]]:
    """For each candidate, the `n` history items most similar to it (the model's own similarity when it has
    one, else co-occurrence cosine on the training data)."""
    if len(history) == 0 or len(candidates) == 0:
        return [[] for _ in candidates]
    sims = model.item_similarity(torch.from_numpy(candidates).long(), torch.from_numpy(history).long())
    if sims is None:
        cols = data.matrices["train"].tocsc()
        a, b = cols[:, candidates], cols[:, history]
        co = (a.T @ b).toarray()
        norm = np.sqrt(np.outer(np.asarray(a.sum(0)).ravel(), np.asarray(b.sum(0)).ravel())) + 1e-8
        sims = torch.from_numpy(co / norm)
    order = torch.argsort(sims.float(), dim=1, descending=True)[:, :n].numpy()
    return [[int(history[j]) for j in row] for row in order]


def _listing(model, data, items: np.ndarray, scores: np.ndarray, liked: np.ndarray, hits: set[int]) -> list[dict]:
    reasons = because_you_liked(model, data, items, liked)
    return [
        {
            "item": int(i),
            "title": data.titles[i],
            "genres": data.genres[i],
            "score": float(s),
            "because": [data.titles[j] for j in why],
            "in_test": int(i) in hits,
        }
        for i, s, why in zip(items, scores, reasons)
    ]


@torch.no_grad()
def recommend_for_user(model: Recommender, data: RecsysData, user: int, k: int = K) -> list[dict]:
    """A known user's top-k as the test saw it (training and validation items left out), each with the
    liked training items that explain it and whether it is one of the user's held-out test items."""
    prepare(model.cpu().eval(), data)
    scores = model.score_users(torch.tensor([user])).float()
    exclude = torch.from_numpy(data.seen("test")[[user]].toarray() > 0)
    top = top_k(scores, exclude, k)[0].numpy()
    hist = user_history(data, user)
    train = hist[hist["split"] == "train"]
    liked = _liked(train["item"].to_numpy(), train["rating"].to_numpy())
    tested = set(hist.loc[hist["split"] == "test", "item"].tolist())
    return _listing(model, data, top, scores[0, top].numpy(), liked, tested)


@torch.no_grad()
def recommend_for_visitor(model: Recommender, data: RecsysData, rated: dict[int, float], k: int = K) -> list[dict]:
    """Cold start: someone who is not in the training data rates a few items; the model folds them in at once
    (rating models use the ratings; the others the items rated 4 or more)."""
    if not rated:
        return []
    model = model.cpu().eval()
    items = np.array(list(rated), dtype=np.int64)
    ratings = np.array(list(rated.values()), dtype=np.float32)
    shown = items if spec_of(model).rating_model else _liked(items, ratings)
    scores = model.score_visitor(torch.from_numpy(shown), torch.from_numpy(ratings[np.isin(items, shown)])).float()
    exclude = torch.zeros(1, data.n_items, dtype=torch.bool)
    exclude[0, items] = True
    top = top_k(scores[None], exclude, k)[0].numpy()
    return _listing(model, data, top, scores[top].numpy(), _liked(items, ratings), set())


def user_history(data: RecsysData, user: int) -> pd.DataFrame:
    """All of a user's interactions with the split each went to."""
    parts = []
    for split, part in data.splits.items():
        mask = (part.users == user).numpy()
        items = part.items.numpy()[mask]
        parts.append(pd.DataFrame({"item": items, "rating": part.ratings.numpy()[mask], "split": split}))
    out = pd.concat(parts, ignore_index=True)
    out["title"] = [data.titles[i] for i in out["item"]]
    out["genres"] = [data.genres[i] for i in out["item"]]
    return out


def items_to_rate(data: RecsysData, n: int = 24) -> list[int]:
    """Well-known items for a visitor to rate: the most rated, taking turns between first genres."""
    order = np.argsort(-data.item_counts, kind="stable")[: max(n * 6, n)]
    by_genre: dict[str, list[int]] = {}
    for i in order:
        by_genre.setdefault(data.genres[i].split("|")[0], []).append(int(i))
    picked: list[int] = []
    while len(picked) < min(n, len(order)):
        for queue in by_genre.values():
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def item_map(model: Recommender, data: RecsysData, method: str = "pca", seed: int = 0) -> pd.DataFrame | None:
    """2-D positions of the items from the model's item vectors (PCA or t-SNE), with title, genre, popularity."""
    vectors = model.item_vectors()
    if vectors is None:
        return None
    x = vectors.detach().float().cpu().numpy()
    if method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(2, init="pca", random_state=seed, perplexity=min(30, len(x) - 1)).fit_transform(x)
    else:
        from sklearn.decomposition import PCA

        xy = PCA(2, random_state=seed).fit_transform(x)
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "title": data.titles,
            "genre": [g.split("|")[0] or "(none)" for g in data.genres],
            "interactions": data.item_counts.astype(int),
        }
    )


def popularity_curve(top: np.ndarray, item_counts: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Items in popularity deciles (most popular first): their share of training interactions vs of top-k slots."""
    order = np.argsort(-item_counts, kind="stable")
    decile = np.empty(len(order), dtype=np.int64)
    decile[order] = np.arange(len(order)) * bins // len(order)
    recs = np.bincount(decile[np.asarray(top).ravel()], minlength=bins)
    inter = np.bincount(decile, weights=item_counts, minlength=bins)
    return pd.DataFrame(
        {
            "decile": [f"{10 * d}–{10 * (d + 1)}%" for d in range(bins)],
            "share of interactions": inter / max(inter.sum(), 1),
            "share of recommendations": recs / max(recs.sum(), 1),
        }
    )


def evaluated_users(data: RecsysData) -> np.ndarray:
    """Users with held-out test interactions (the ones the metrics are averaged over)."""
    return np.flatnonzero(np.diff(data.matrices["test"].indptr) > 0)


def stars_to_rating(stars: int, meta: dict[str, Any]) -> float:
    """0-4 (st.feedback's five stars) -> the data's rating scale: 1-5 stays 1-5, 0.5-5 or 1-10 are stretched."""
    low, high = meta["rating_min"], meta["rating_max"]
    rating = low + (high - low) * stars / 4
    return float(round(rating)) if meta.get("integer_ratings") else float(rating)


def popularity_summary(top: np.ndarray, item_counts: np.ndarray, head: float = 0.1) -> dict[str, float]:
    """The `head` (10%) most interacted-with items: their share of recommendations, catalogue and interactions."""
    n_head = max(1, int(round(head * len(item_counts))))
    head_items = np.argsort(-np.asarray(item_counts), kind="stable")[:n_head]
    return {
        "recommendations": popular_share(top, item_counts, head),
        "catalogue": n_head / len(item_counts),
        "interactions": float(np.asarray(item_counts)[head_items].sum() / max(np.sum(item_counts), 1)),
    }


def run_protocol(run: dict[str, Any]) -> str:
    """The split protocol a recommendation run was scored under ("random" for runs from before there was a choice)."""
    return (run.get("details") or {}).get("protocol") or run["config"].protocol


def runs_table(runs: list[dict[str, Any]], protocol: str | None = None) -> pd.DataFrame:
    """Finished recommendation runs, one row each: the same test metrics side by side, best NDCG@10 first
    within each dataset and protocol (numbers from different datasets or protocols do not compare); with
    `protocol`, only the runs scored under it."""
    rows = []
    for run in runs:
        if run["status"] not in TESTED or protocol not in (None, run_protocol(run)):
            continue
        values = {**run["metrics"], **{k: v for k, v in run["details"].items() if k == f"popular_share@{K}"}}
        rows.append(
            {
                "run": run["id"],
                "model": run["model"],
                "dataset": run["dataset"],
                "protocol": run_protocol(run),
                **{label: values.get(key, np.nan) for key, label in RUN_COLUMNS.items()},
            }
        )
    table = pd.DataFrame(rows, columns=["run", "model", "dataset", "protocol", *RUN_COLUMNS.values()])
    order = ["dataset", "protocol", RUN_COLUMNS["ndcg@10"]]
    return table.sort_values(order, ascending=[True, True, False], kind="stable").reset_index(drop=True)

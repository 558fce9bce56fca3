"""Recommendation metrics: rating errors and top-K ranking metrics under full ranking (RecBole's definitions)."""

from __future__ import annotations

import numpy as np
import torch

K = 10


def rating_metrics(y_true, y_pred) -> dict[str, float]:
    """RMSE and MAE of predicted ratings."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def top_k(scores: torch.Tensor, exclude: torch.Tensor | None, k: int = K) -> torch.Tensor:
    """(B, n_items) scores -> (B, k) item indices, best first; `exclude` (B, n_items, bool) items are never ranked."""
    if exclude is not None:
        scores = scores.masked_fill(exclude, float("-inf"))
    return torch.topk(scores, min(k, scores.shape[1]), dim=1).indices


def hits_at_k(top: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """(B, k) recommended items and (B, n_items) bool relevance -> (B, k) bool: is the item at rank r relevant?"""
    return torch.gather(relevant, 1, top)


def ranking_metrics_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int = K) -> dict[str, np.ndarray]:
    """Per-user precision, recall, NDCG, hit and MAP at k from a (U, k) 0/1 hit matrix and each user's relevant count.

    Definitions (RecBole's): precision = hits / k; recall = hits / |relevant|; NDCG with binary gains and
    an ideal DCG over min(|relevant|, k) items; hit = any hit; MAP = sum over hit ranks of precision at
    that rank, divided by min(|relevant|, k). Users without relevant items must be left out before.
    """
    hits = np.asarray(hits, dtype=np.float64)[:, :k]
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if np.any(n_relevant <= 0):
        raise ValueError("every user needs at least one relevant item")
    ranks = np.arange(1, hits.shape[1] + 1)
    discounts = 1.0 / np.log2(ranks + 1)
    dcg = (hits * discounts).sum(1)
    ideal_len = np.minimum(n_relevant, hits.shape[1]).astype(np.int64)
    idcg = np.cumsum(discounts)[ideal_len - 1]
    precision_at_rank = np.cumsum(hits, 1) / ranks
    return {
        f"precision@{k}": hits.sum(1) / k,
        f"recall@{k}": hits.sum(1) / n_relevant,
        f"ndcg@{k}": dcg / idcg,
        f"hit@{k}": (hits.sum(1) > 0).astype(np.float64),
        f"map@{k}": (precision_at_rank * hits).sum(1) / np.minimum(n_relevant, hits.shape[1]),
    }


def catalogue_coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top-k list."""
    return float(len(np.unique(np.asarray(top))) / n_items)


def popular_share(top: np.ndarray, item_counts: np.ndarray, head: float = 0.1) -> float:
    """Share of all recommendations that come from the `head` (10%) most interacted-with items."""
    n_head = max(1, int(round(head * len(item_counts))))
    head_items = np.argsort(-np.asarray(item_counts), kind="stable")[:n_head]
    return float(np.isin(np.asarray(top), head_items).mean())

"""A map of what a network sees: the penultimate layer (the head's input) of a split projected to 2-D with PCA or
t-SNE (scikit-learn), or UMAP where `umap-learn` is installed, to colour by class and ring the mistakes (the Map tab;
Edge Impulse's data explorer). UMAP is optional: umap-learn brings numba and llvmlite (a JIT compiler), so it is not a
requirement (`pip install umap-learn` offers it)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from torch import nn

from core.models.embeddings import penultimate

METHODS = ("PCA", "t-SNE", "UMAP")  # UMAP only where umap-learn is installed: methods()
MAX_POINTS = 2000  # a larger split is mapped on a seeded sample of this many (t-SNE's cost grows with N^2 at worst)


@dataclass
class SplitMap:
    """2-D positions of a split's examples (`index` into the split), what was projected, and how."""

    xy: np.ndarray  # (n, 2)
    index: np.ndarray  # (n,) rows of the split, in order
    what: str  # "the head's input (512 features)" or "the inputs (64 values)"
    method: str
    note: str = ""


def features_of(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, str]:
    """The head's input for every example, or the flattened inputs for a model without a head (the SVM)."""
    z = penultimate(model, x)
    if z is not None:
        return z, f"the head's input ({z.shape[1]:,} features)"
    flat = x.flatten(1).float().numpy()
    return flat, f"the inputs ({flat.shape[1]:,} values)"


def methods() -> tuple[str, ...]:
    """The projections this machine offers: UMAP only where umap-learn can be imported."""
    return METHODS if importlib.util.find_spec("umap") is not None else METHODS[:2]


def project(z: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(n, d) -> (n, 2): PCA on standardised features, t-SNE (PCA-initialised, perplexity below n / 3), or UMAP
    (umap-learn's defaults, fewer neighbours than points)."""
    if method not in methods():
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(methods())}")
    z = np.asarray(z, np.float64)
    z = (z - z.mean(0)) / np.maximum(z.std(0), 1e-9)
    if len(z) < 3 or z.shape[1] < 2:
        return np.pad(z[:, :2], ((0, 0), (0, max(0, 2 - z.shape[1]))))
    if method == "PCA":
        return PCA(n_components=2, random_state=seed).fit_transform(z)
    if method == "UMAP":
        import umap

        return umap.UMAP(n_components=2, n_neighbors=min(15, len(z) - 1), random_state=seed).fit_transform(z)
    perplexity = float(min(30.0, max(2.0, (len(z) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)


def split_map(model: nn.Module, x: torch.Tensor, method: str, seed: int = 0) -> SplitMap:
    """The map of a split: at most MAX_POINTS examples (a seeded sample, in split order), embedded and projected."""
    index, note = np.arange(len(x)), ""
    if len(x) > MAX_POINTS:
        index = np.sort(np.random.default_rng(seed).choice(len(x), MAX_POINTS, replace=False))
        note = f"A seeded sample of {MAX_POINTS:,} of the {len(x):,} examples."
    z, what = features_of(model, x[torch.from_numpy(index)])
    return SplitMap(project(z, method, seed), index, what, method, note)

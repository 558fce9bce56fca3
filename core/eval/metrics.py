"""Classification metrics (scikit-learn) and model footprint measurements (size, latency)."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from torch import nn


def classification_metrics(y_true, y_pred, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, the per-class report and the confusion matrix, all from scikit-learn."""
    labels = list(range(len(class_names)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    # macro-F1 over the classes present in truth or prediction (scikit-learn's labels=None): a class the
    # test split lacks and the model never predicts is no evidence either way, so it must not count as 0
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "report": report_with_present_macro_avg(report, cm, class_names),
        "confusion_matrix": cm,
    }


def report_with_present_macro_avg(report: dict[str, Any], cm, class_names: list[str]) -> dict[str, Any]:
    """The per-class report whose "macro avg" row averages the classes present in truth or prediction.

    The headline macro-F1's rule; every class keeps its own row. Also mends a run stored before the rule.
    """
    cm = np.asarray(cm)
    present = [name for name, seen in zip(class_names, cm.sum(0) + cm.sum(1) > 0) if seen and name in report]
    if not present:
        return report
    row = {k: float(np.mean([report[name][k] for name in present])) for k in ("precision", "recall", "f1-score")}
    return {**report, "macro avg": {**row, "support": int(cm.sum())}}


# ---------------------------------------------------------------- 95% intervals

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
RESAMPLES = 1000
CHUNK_DRAWS = 4_000_000  # resampled indices held at once (32 MB): bounds memory on large test sets


def ci95_accuracy(correct: float, n: float) -> list[float]:
    """Wilson score interval of a proportion (accuracy = correct / n): sound near 0 and 1, unlike p ± 1.96 se."""
    if n <= 0:
        return [float("nan"), float("nan")]
    p, z2 = correct / n, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n**2)) / (1 + z2 / n)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def bootstrap(statistic, n: int, resamples: int = RESAMPLES, seed: int = 0, width: int = 0) -> np.ndarray:
    """`resamples` values of a statistic over n units (test examples, users, ratings) drawn with replacement.

    `statistic` maps a (B, n) array of resampled unit indices to B values; it runs on chunks of resamples
    small enough that B * max(n, width) numbers fit in CHUNK_DRAWS (`width`: what one resample holds).
    """
    rng = np.random.default_rng(seed)
    step = max(1, CHUNK_DRAWS // max(n, width))
    draws = (rng.integers(0, n, size=(min(step, resamples - s), n)) for s in range(0, resamples, step))
    return np.concatenate([statistic(idx) for idx in draws])


def bootstrap_ci95(statistic, n: int, resamples: int = RESAMPLES, seed: int = 0, width: int = 0) -> list[float]:
    """Percentile bootstrap 95% interval of a statistic over n units (see `bootstrap`)."""
    if n <= 0:
        return [float("nan"), float("nan")]
    low, high = np.percentile(bootstrap(statistic, n, resamples, seed, width), [2.5, 97.5])
    return [float(low), float(high)]


def ci95_mean(values, resamples: int = RESAMPLES, seed: int = 0, transform=None) -> list[float]:
    """Bootstrap interval of the mean of per-unit values (a per-user NDCG), or of `transform(mean)` (RMSE)."""
    values = np.asarray(values, dtype=np.float64)
    transform = transform or (lambda m: m)
    return bootstrap_ci95(lambda idx: transform(values[idx].mean(1)), len(values), resamples, seed)


def cluster_sums(values, groups) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster (a user, a speaker), in sorted order of its id: the sum of `values` and how many it holds."""
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    return np.bincount(codes, weights=np.asarray(values, dtype=np.float64)), np.bincount(codes).astype(np.float64)


def ci95_cluster_mean(values, groups, resamples: int = RESAMPLES, seed: int = 0, transform=None) -> list[float]:
    """Cluster bootstrap interval of the mean of `values` (or of `transform(mean)`): whole clusters (users,
    speakers) are drawn with replacement, as their members are not independent (Field & Welsh 2007)."""
    sums, sizes = cluster_sums(values, groups)
    transform = transform or (lambda m: m)
    return bootstrap_ci95(lambda idx: transform(sums[idx].sum(1) / sizes[idx].sum(1)), len(sizes), resamples, seed)


def ci95_cluster_accuracy(right, groups, resamples: int = RESAMPLES, seed: int = 0) -> list[float]:
    """Wilson interval of accuracy on the effective number of independent clips: n over the design effect, the
    variance of accuracy over whole resampled groups (speakers) against that of independent clips (Kish 1965).
    Unlike a percentile bootstrap, it stays honest near 100%, where resamples cannot hold more errors than seen."""
    right = np.asarray(right, dtype=np.float64)
    n, p = len(right), float(right.mean()) if len(right) else float("nan")
    if n == 0 or p in (0.0, 1.0):
        return ci95_accuracy(p * n, n)
    sums, sizes = cluster_sums(right, groups)
    spread = bootstrap(lambda idx: sums[idx].sum(1) / sizes[idx].sum(1), len(sizes), resamples, seed).var()
    n_eff = n / max(1.0, spread / (p * (1 - p) / n))
    return ci95_accuracy(p * n_eff, n_eff)


def ci95_macro_f1(
    y_true, y_pred, n_classes: int, resamples: int = RESAMPLES, seed: int = 0, groups=None
) -> list[float]:
    """Bootstrap interval of macro-F1 (over the classes present in each resample), all resamples at once; over
    test examples, or over whole `groups` (speakers) when given."""
    codes, k = np.asarray(y_true) * n_classes + np.asarray(y_pred), n_classes**2
    if groups is None:

        def over_examples(idx: np.ndarray) -> np.ndarray:
            return _macro_f1(_counts(codes[idx], k), n_classes)

        return bootstrap_ci95(over_examples, len(codes), resamples, seed, k)
    _, group = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(group.max()) + 1
    per_group = np.bincount(group * k + codes, minlength=n_groups * k).reshape(n_groups, k).astype(np.float64)

    def over_groups(idx: np.ndarray) -> np.ndarray:  # how often each group was drawn, times its confusion counts
        return _macro_f1(_counts(idx, n_groups).reshape(len(idx), n_groups) @ per_group, n_classes)

    return bootstrap_ci95(over_groups, n_groups, resamples, seed, k)


def _counts(values: np.ndarray, n: int) -> np.ndarray:
    """(B, m) values in range(n) -> each row's counts of each value, rows one after another (B * n)."""
    return np.bincount((values + np.arange(len(values))[:, None] * n).ravel(), minlength=len(values) * n)


def _macro_f1(counts: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 over the classes present, of B flattened confusion matrices."""
    cm = counts.reshape(-1, n_classes, n_classes)  # (B, true, predicted)
    tp, support = np.diagonal(cm, axis1=1, axis2=2), cm.sum(2) + cm.sum(1)  # 2tp + fp + fn = support
    f1 = np.divide(2 * tp, support, out=np.zeros(support.shape), where=support > 0)
    return f1.sum(1) / (support > 0).sum(1)


def classification_ci95(y_true, y_pred, n_classes: int, groups=None) -> dict[str, list[float]]:
    """95% intervals of accuracy (Wilson) and macro-F1 (bootstrap over test examples); with `groups` (the test
    clips' speakers), both a cluster bootstrap over them: a speaker's clips are not independent."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    right = y_true == y_pred
    accuracy = ci95_accuracy(int(right.sum()), len(y_true)) if groups is None else ci95_cluster_accuracy(right, groups)
    return {"accuracy": accuracy, "macro_f1": ci95_macro_f1(y_true, y_pred, n_classes, groups=groups)}


def interval_note(groups=None) -> str:
    """What a classification run's 95% intervals resampled, in words."""
    if groups is None:
        return "95% intervals: Wilson (accuracy) and a bootstrap over test examples (macro-F1)."
    speakers = sum(str(g).startswith("speaker:") for g in np.unique(groups))
    alone = len(np.unique(groups)) - speakers
    rest = f" (and {alone} clips of no known speaker, each on its own)" if alone else ""
    over = f"the {speakers} test speakers{rest}"
    return (
        f"95% intervals over {over}, as a speaker's clips go together: accuracy Wilson's on the clips' effective "
        "number (the design effect of resampling speakers), macro-F1 a bootstrap over speakers."
    )


def rating_ci95(y_true, y_pred, users) -> dict[str, list[float]]:
    """95% intervals of RMSE and MAE, bootstrap over test users (each with all their test ratings)."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    return {"rmse": ci95_cluster_mean(err**2, users, transform=np.sqrt), "mae": ci95_cluster_mean(np.abs(err), users)}


def worst_mistakes(y_true, probs: np.ndarray, k: int = 12) -> list[int]:
    """Indices of wrong predictions, most confident first."""
    y_true = np.asarray(y_true)
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y_true)
    conf = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-conf)][:k].tolist()


def parameter_count(model: nn.Module) -> int:
    """Learned numbers: the parameters, or what a model fitted outside gradient descent says it learned."""
    if hasattr(model, "learned_size"):  # an SVM learns support vectors and coefficients, held as buffers
        return int(model.learned_size())
    return sum(p.numel() for p in model.parameters())


def model_megabytes(model: nn.Module) -> float:
    """Size of the saved state dict in MB (what a checkpoint of the weights costs on disk)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 1e6


@torch.no_grad()
def latency_ms(model: nn.Module, example: torch.Tensor, repeats: int = 30) -> float:
    """Median wall time of one forward pass on a single example (batch of one), in milliseconds."""
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    example = example.to(device)
    for _ in range(3):
        model(example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(example)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def footprint(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    return {
        "parameters": parameter_count(model),
        "size_mb": model_megabytes(model),
        "latency_ms": latency_ms(model, example),
    }

"""Is a gap between two variants real? Welch's t-test over seeds; on the same test examples, an exact McNemar
test (accuracy) or a paired bootstrap over users (NDCG@10)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.metrics import bootstrap

ALPHA = 0.05  # a gap with p below this is called distinguishable
RESAMPLES = 2000


@dataclass(frozen=True)
class GapTest:
    """One stated test of the gap between the winner and the runner-up."""

    name: str  # "Welch's t-test over seeds"
    p_value: float
    detail: str  # what it was run on, in words
    interval: tuple[float, float] | None = None  # 95% interval of the gap (winner minus runner-up), if it has one

    @property
    def distinguishable(self) -> bool:
        return self.p_value < ALPHA


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def welch_test(a: Sequence[float], b: Sequence[float]) -> GapTest | None:
    """Welch's t-test (unequal variances) on per-seed scores; None without 2 seeds each or when no seed varies."""
    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return None
    with warnings.catch_warnings():  # one variant scoring the same every seed (1.0, 1.0) is fine for Welch's test;
        # scipy warns of "catastrophic cancellation" in that group's variance, which is exactly 0
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return GapTest("Welch's t-test over seeds", p, f"{len(a)} vs {len(b)} seeds")


def mcnemar_test(right_a: np.ndarray, right_b: np.ndarray) -> GapTest:
    """Exact McNemar test: of the examples exactly one of the two gets right, is each as likely to be a's?"""
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    detail = f"the same {len(right_a):,} test examples; right only by the winner: {only_a}, only by the other: {only_b}"
    return GapTest("exact McNemar test", p, detail)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, unit: str = "users", seed: int = 0) -> GapTest:
    """Resample units (users) with replacement, both variants together: the 95% interval of the mean gap, and
    a two-sided p-value (twice the share of resampled gaps on the far side of zero)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    gaps = bootstrap(lambda idx: diff[idx].mean(1), len(diff), RESAMPLES, seed)
    p = min(1.0, 2 * min(np.mean(gaps <= 0), np.mean(gaps >= 0)))
    low, high = np.percentile(gaps, [2.5, 97.5])
    detail = f"the same {len(diff):,} test {unit}; the gap's 95% interval is [{low:.3f}, {high:.3f}]"
    return GapTest("paired bootstrap", float(p), detail, (float(low), float(high)))


def paired_test(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], metric: str) -> GapTest | None:
    """A paired test of two runs on their stored test predictions (core.runs artifacts), when both were scored
    on the same test examples: McNemar for accuracy, a bootstrap over users for NDCG@10. None otherwise."""
    if metric == "accuracy" and _same(a, b, "y_true", "probs"):
        y = a["y_true"]
        return mcnemar_test(a["probs"].argmax(1) == y, b["probs"].argmax(1) == y)
    if metric == "ndcg@10" and _same(a, b, "test_users", "user_ndcg"):
        return paired_bootstrap(a["user_ndcg"], b["user_ndcg"])
    return None


def _same(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], key: str, values: str) -> bool:
    """Both runs hold `values`, measured on the same test units (`key`: the true labels, the test users)."""
    return all(k in a and k in b for k in (key, values)) and np.array_equal(a[key], b[key])

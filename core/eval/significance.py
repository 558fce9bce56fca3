"""Is a gap between two variants real? Welch's t-test over seeds; on the same test examples, an exact McNemar
test (accuracy) or a paired bootstrap over users (NDCG@10); over both at once, a paired bootstrap that resamples
seeds and test examples (or users, or speakers) together."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.eval.metrics import bootstrap, cluster_sums

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


def paired_bootstrap(a: np.ndarray, b: np.ndarray, unit: str = "users", seed: int = 0, groups=None) -> GapTest:
    """Resample units (users) with replacement, both variants together: the 95% interval of the mean gap, and
    a two-sided p-value (twice the share of resampled gaps on the far side of zero). With `groups` (speakers),
    whole groups are resampled: a speaker's clips are not independent."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    sums, sizes = cluster_sums(diff, np.arange(len(diff)) if groups is None else groups)
    gaps = bootstrap(lambda idx: sums[idx].sum(1) / sizes[idx].sum(1), len(sums), RESAMPLES, seed)
    p = min(1.0, 2 * min(np.mean(gaps <= 0), np.mean(gaps >= 0)))
    low, high = np.percentile(gaps, [2.5, 97.5])
    units = f"{len(diff):,} test {unit}" if groups is None else f"{len(sums):,} test speakers ({len(diff):,} {unit})"
    detail = f"the same {units}; the gap's 95% interval is [{low:.3f}, {high:.3f}]"
    return GapTest("paired bootstrap", float(p), detail, (float(low), float(high)))


def paired_test(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], metric: str) -> GapTest | None:
    """A paired test of two runs on their stored test predictions (core.run.store artifacts), when both were scored
    on the same test examples: McNemar for accuracy (a bootstrap over speakers when both runs stored the same
    test speakers), a bootstrap over users for NDCG@10. None otherwise."""
    if metric == "accuracy" and _same(a, b, "y_true", "probs"):
        y = a["y_true"]
        right_a, right_b = a["probs"].argmax(1) == y, b["probs"].argmax(1) == y
        if _same(a, b, "groups", "groups"):
            return paired_bootstrap(right_a, right_b, "clips", groups=a["groups"])
        return mcnemar_test(right_a, right_b)
    if metric == "ndcg@10" and _same(a, b, "test_users", "user_ndcg"):
        return paired_bootstrap(a["user_ndcg"], b["user_ndcg"])
    return None


def unit_scores(run: Mapping[str, np.ndarray], metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(test units, each unit's score) from a run's stored predictions: right (1) or wrong (0) per test example
    for accuracy, NDCG@10 per test user; None when the run holds neither."""
    if metric == "accuracy" and "y_true" in run and "probs" in run:
        return run["y_true"], (run["probs"].argmax(1) == run["y_true"]).astype(np.float64)
    if metric == "ndcg@10" and "test_users" in run and "user_ndcg" in run:
        return run["test_users"], run["user_ndcg"].astype(np.float64)
    return None


def seeds_and_units_bootstrap(
    a: Sequence[Mapping[str, np.ndarray]], b: Sequence[Mapping[str, np.ndarray]], metric: str, seed: int = 0
) -> GapTest | None:
    """Paired hierarchical bootstrap of the mean gap over seeds and test units together (Bouthillier et al. 2021:
    both are chance). Seed i of `a` is paired with seed i of `b` when both were scored on the same test units;
    each resample draws seeds with replacement and, within them, test units (the same draw for every seed when
    the seeds share a test split: a unit one variant gets right every seed counts once, not once a seed). Units
    are a run's `groups` (speakers) when stored, else examples or users. None with fewer than 2 paired seeds."""
    pairs = [pair for ra, rb in zip(a, b) if (pair := _paired_seed(ra, rb, metric)) is not None]
    if len(pairs) < 2:
        return None
    sums, sizes, names = zip(*(_cluster_sums(diff, groups) for _, diff, groups in pairs))
    shared = all(np.array_equal(units, pairs[0][0]) for units, _, _ in pairs) and len({len(s) for s in sums}) == 1
    gaps = _hierarchical_gaps(list(sums), list(sizes), shared, seed)
    p = min(1.0, 2 * min(np.mean(gaps <= 0), np.mean(gaps >= 0)))
    low, high = np.percentile(gaps, [2.5, 97.5])
    unit = names[0] if len(set(names)) == 1 else "units"
    units = "test speakers" if unit == "speakers" else f"test {'users' if metric == 'ndcg@10' else 'examples'}"
    many = f"the same {len(sums[0]):,} {units}" if shared else f"{units} of each seed's split"
    detail = f"{len(pairs)} seeds × {many}, both resampled; the gap's 95% interval is [{low:.3f}, {high:.3f}]"
    name = f"paired bootstrap over seeds and {units}"
    return GapTest(name, float(p), detail, (float(low), float(high)))


def _paired_seed(ra: Mapping[str, np.ndarray], rb: Mapping[str, np.ndarray], metric: str):
    """(test units, per-unit gap a - b, speakers or None) of one seed's two runs; None unless on the same units."""
    sa, sb = unit_scores(ra, metric), unit_scores(rb, metric)
    if sa is None or sb is None or not np.array_equal(sa[0], sb[0]):
        return None
    return sa[0], sa[1] - sb[1], ra.get("groups")


def _cluster_sums(diff: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Per resampling unit: the sum of the gap and how many test examples (or users) it holds."""
    if groups is None or len(groups) != len(diff):
        return diff, np.ones(len(diff)), "examples"
    return *cluster_sums(diff, groups), "speakers"


def _hierarchical_gaps(sums: list[np.ndarray], sizes: list[np.ndarray], shared: bool, seed: int) -> np.ndarray:
    """RESAMPLES mean gaps: per seed, the gap over resampled units (B, S); then seeds resampled (multinomial)."""
    n_seeds = len(sums)
    if shared:
        table, size = np.stack(sums), sizes[0]  # (S, units)
        per_seed = bootstrap(
            lambda idx: (table[:, idx].sum(2) / size[idx].sum(1)).T, len(size), RESAMPLES, seed, len(size) * n_seeds
        )
    else:
        per_seed = np.stack(
            [bootstrap(lambda idx, s=s, z=z: s[idx].sum(1) / z[idx].sum(1), len(z), RESAMPLES, seed + i)
             for i, (s, z) in enumerate(zip(sums, sizes))], 1
        )  # fmt: skip
    weights = np.random.default_rng(seed).multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=RESAMPLES)
    return (weights * per_seed).sum(1) / n_seeds


def _same(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], key: str, values: str) -> bool:
    """Both runs hold `values`, measured on the same test units (`key`: the true labels, the test users)."""
    return all(k in a and k in b for k in (key, values)) and np.array_equal(a[key], b[key])

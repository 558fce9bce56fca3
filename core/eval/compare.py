"""Comparing variants: the primary metric per task, seed statistics, the winner and stated tests of the gap
(Welch over seeds; McNemar or a paired bootstrap on the same test examples; a paired bootstrap over both, which
decides the trophy), the Pareto front, a summary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.eval.metric_info import MetricInfo, metric
from core.eval.significance import GapTest, format_p, paired_test, seeds_and_units_bootstrap, welch_test

# What a variant costs, as stored in run metrics: key -> label.
COSTS: dict[str, str] = {
    "train_seconds": "training time (s)",
    "parameters": "parameters",
    "latency_ms": "latency per example (ms)",
}


def primary_metric(task: str) -> MetricInfo:
    """The number a task's runs are ranked by (its spec says which), with its label and format."""
    from core.tasks import get_task

    return metric(get_task(task).spec.primary_metric)


@dataclass
class VariantStats:
    """One variant's primary metric over its seeds, its mean costs, and its runs' stored test predictions."""

    label: str
    values: list[float]
    costs: dict[str, float] = field(default_factory=dict)
    # per seed, in seed order: the run's artifacts (core.run.store.RunStore.load_artifacts), for paired tests
    predictions: list[Mapping[str, np.ndarray]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (ddof=1); 0.0 with a single seed."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0


def variant_stats(
    label: str,
    run_metrics: Sequence[Mapping[str, float]],
    metric: str,
    artifacts: Sequence[Mapping[str, np.ndarray]] | None = None,
) -> VariantStats:
    """Stats of one variant from the test metrics of its finished runs (runs without the metric are skipped);
    `artifacts`, one per run in the same order, are the runs' stored test predictions."""
    keep = [i for i, m in enumerate(run_metrics) if m.get(metric) is not None]
    done = [run_metrics[i] for i in keep]
    costs = {}
    for key in COSTS:
        values = [m[key] for m in done if m.get(key) is not None]
        if values:
            costs[key] = float(np.mean(values))
    predictions = [artifacts[i] for i in keep] if artifacts is not None else []
    return VariantStats(label, [float(m[metric]) for m in done], costs, predictions)


def pooled_std(a: VariantStats, b: VariantStats) -> float | None:
    """Seed-to-seed spread of two variants, pooled: sqrt(sum((n_i - 1) s_i^2) / sum(n_i - 1)). None if unknown."""
    dof = (a.n - 1) + (b.n - 1)
    if dof <= 0 or a.n == 0 or b.n == 0:
        return None
    return math.sqrt(((a.n - 1) * a.std**2 + (b.n - 1) * b.std**2) / dof)


@dataclass
class Verdict:
    """Who won a race, by how much, and what stated tests say about the gap to the runner-up."""

    metric: MetricInfo
    ranking: list[VariantStats]  # best first
    margin: float | None  # winner minus runner-up (in the metric's units, always >= 0)
    spread: float | None  # pooled seed std of winner and runner-up; None with one seed each
    # a trophy: every deciding test says distinguishable (p < 0.05); None when chance on the test examples
    # could not be measured (no stored predictions) and the seeds alone do not rule the winner out
    clear: bool | None
    tests: list[GapTest] = field(default_factory=list)  # over seeds, on the same test examples, over both
    decided_by: GapTest | None = None  # the test the trophy went by: the first deciding test that failed, or the last

    @property
    def winner(self) -> VariantStats:
        return self.ranking[0]

    @property
    def runner_up(self) -> VariantStats | None:
        return self.ranking[1] if len(self.ranking) > 1 else None


def verdict(stats: Sequence[VariantStats], metric: MetricInfo) -> Verdict | None:
    """Rank variants by mean metric; None when no variant has a finished run."""
    ranked = sorted((s for s in stats if s.n), key=lambda s: s.mean, reverse=metric.higher_is_better)
    if not ranked:
        return None
    if len(ranked) == 1:
        return Verdict(metric, ranked, None, None, None)
    best, second = ranked[0], ranked[1]
    margin = abs(best.mean - second.mean)
    tests = gap_tests(best, second, metric)
    deciding = deciding_tests(tests)
    failed = next((t for t in deciding if not t.distinguishable), None)
    decided_by = failed or (deciding[-1] if deciding else None)
    clear = None if decided_by is None else decided_by.distinguishable
    if deciding and deciding[-1].name.startswith("Welch") and clear:
        clear, decided_by = None, None  # seeds rule nothing out, and the test examples' chance is not measured
    return Verdict(metric, ranked, margin, pooled_std(best, second), clear, tests, decided_by)


def gap_tests(best: VariantStats, second: VariantStats, metric: MetricInfo) -> list[GapTest]:
    """Welch's t-test over seeds (when seeds vary), a paired test of the first seed's runs on the same test
    examples (always possible from stored predictions; the only test for models whose seeds change nothing),
    and a paired bootstrap over seeds and test examples together (with 2 or more seeds of stored predictions)."""
    tests = [welch_test(best.values, second.values)]
    if best.predictions and second.predictions:
        tests.append(paired_test(best.predictions[0], second.predictions[0], metric.name))
        tests.append(seeds_and_units_bootstrap(best.predictions, second.predictions, metric.name))
    return [t for t in tests if t is not None]


def deciding_tests(tests: Sequence[GapTest]) -> list[GapTest]:
    """The tests a trophy needs passed: Welch's (when seeds vary) and the one over both seeds and test examples;
    without that one, the paired test on the same test examples (one seed each, or seeds that change nothing)."""
    both = [t for t in tests if t.name.startswith("paired bootstrap over seeds")]
    welch = [t for t in tests if t.name.startswith("Welch")]
    return welch + (both or [t for t in tests if t not in welch][:1])


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool = True) -> list[bool]:
    """For (metric, cost) points: True where no other point is at least as good on both and better on one.

    Points with a missing (NaN) metric or cost are never on the front.
    """
    sign = 1.0 if higher_is_better else -1.0
    pts = [(sign * m, c) for m, c in points]
    front = []
    for i, (m_i, c_i) in enumerate(pts):
        if math.isnan(m_i) or math.isnan(c_i):
            front.append(False)
            continue
        dominated = any(
            m_j >= m_i and c_j <= c_i and (m_j > m_i or c_j < c_i)
            for j, (m_j, c_j) in enumerate(pts)
            if j != i and not (math.isnan(m_j) or math.isnan(c_j))
        )
        front.append(not dominated)
    return front


@dataclass
class EpochBand:
    """A metric per epoch over several seeds: mean, sample std and how many seeds reached each epoch."""

    epochs: list[int]
    mean: list[float]
    std: list[float]
    n: list[int]


def epoch_band(histories: Sequence[Sequence[Mapping[str, float]]], key: str) -> EpochBand:
    """Mean ± std of `key` per epoch over the seeds' histories (seeds still training count where they got to)."""
    by_epoch: dict[int, list[float]] = {}
    for history in histories:
        for logs in history:
            if logs.get(key) is not None:
                by_epoch.setdefault(int(logs["epoch"]), []).append(float(logs[key]))
    epochs = sorted(by_epoch)
    values = [by_epoch[e] for e in epochs]
    return EpochBand(
        epochs,
        [float(np.mean(v)) for v in values],
        [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in values],
        [len(v) for v in values],
    )


def _times(ratio: float) -> str:
    return f"{ratio:.2g}×"


def _cost_sentence(best: VariantStats, second: VariantStats) -> str:
    """' It trained 48× faster than the runner-up (0.48 s vs 23 s) with 2× as many parameters (…).'"""
    t1, t2 = best.costs.get("train_seconds"), second.costs.get("train_seconds")
    if not (t1 and t2):
        return ""
    secs = " vs ".join(f"{t:.2g} s" if t < 1 else f"{t:.1f} s" for t in (t1, t2))
    r = t1 / t2
    if 0.9 <= r <= 1.1:
        text = f" It trained in about the same time as the runner-up ({secs})"
    elif r < 1:
        text = f" It trained {_times(1 / r)} faster than the runner-up ({secs})"
    else:
        text = f" It took {_times(r)} as long to train as the runner-up ({secs})"
    p1, p2 = best.costs.get("parameters"), second.costs.get("parameters")
    if p1 and p2:
        counts, r = f"{p1:,.0f} vs {p2:,.0f}", p1 / p2
        if 0.9 <= r <= 1.1:
            text += f" with about the same number of parameters ({counts})"
        elif r > 1:
            text += f" with {_times(r)} as many parameters ({counts})"
        else:
            text += f" with {_times(1 / r)} fewer parameters ({counts})"
    return text + "."


def summary_text(v: Verdict | None) -> str:
    """A few plain sentences computed from the numbers: the winner, the gap, and what the stated tests say of it."""
    if v is None:
        return "No variant finished, so there is nothing to compare yet."
    m, best = v.metric, v.winner
    over = f"mean of {best.n} seeds, ± {m.format_gap(best.std)}" if best.n > 1 else "one seed"
    if v.runner_up is None:
        return f"Only **{best.label}** finished: {m.title} {m.format(best.mean)} ({over})."
    second = v.runner_up
    ahead = "ahead of" if m.higher_is_better else "below"
    text = (
        f"**{best.label}** won with {m.title} {m.format(best.mean)} ({over}), "
        f"{m.format_gap(v.margin)} {ahead} **{second.label}** ({m.format(second.mean)})."
    )
    return text + _tests_text(v) + _cost_sentence(best, second)


def _tests_text(v: Verdict) -> str:
    """' Welch's t-test over seeds (…): p = 0.003, so …' for each test; what is missing when none could be made."""
    if not v.tests:
        if v.spread is None:
            return (
                " With one seed per variant and no stored test predictions, no test can tell whether this gap is "
                "luck: race over 2 or more seeds to tell."
            )
        tied = " The two are tied on every seed." if v.margin == 0 else " Neither variant's score moves with the seed"
        return tied if v.margin == 0 else tied + ", and without stored test predictions no test can be made."
    text = ""
    for test in v.tests:
        detail = test.detail
        if test.name.startswith("Welch"):
            detail += f"; seed-to-seed spread {v.metric.format_gap(v.spread)}"
        text += f" {test.name[0].upper()}{test.name[1:]} ({detail}): {format_p(test.p_value)}"  # starts a sentence
        if test.distinguishable:
            text += f", so the gap is unlikely to be {_luck(test)}."
        else:
            text += ": not distinguishable on this data."
    return text + _trophy_text(v)


def _luck(test: GapTest) -> str:
    if test.name.startswith("Welch"):
        return "the luck of the seed"
    return "the luck of the seed or of the test set" if "over seeds" in test.name else "chance on this test set"


def _trophy_text(v: Verdict) -> str:
    """Which test the trophy went by, in one sentence."""
    if v.decided_by is None:
        return (
            " No trophy: Welch's test counts only the luck of the seed, and without stored test predictions the "
            "luck of the test examples cannot be measured."
        )
    p = format_p(v.decided_by.p_value)
    if v.clear:
        return f" Trophy: the {v.decided_by.name} decided ({p})."
    return f" No trophy: the {v.decided_by.name} cannot tell the two apart ({p})."

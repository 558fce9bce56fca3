"""The one table of metrics: each metric's label, format and direction, for pages, reports, the lab and the CLI."""

from __future__ import annotations

from dataclasses import dataclass


def compact_count(n: float) -> str:
    """140458 -> '140.5k', 11181642 -> '11.18M': short enough for a metric tile."""
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.1f}k" if n >= 1e4 else f"{n:,.0f}"


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is named and written, and which way is better."""

    name: str
    label: str
    fmt: str = "{:.3f}"  # a format string, or "count" for compact counts
    higher_is_better: bool = True
    percent: bool = False  # written as 97.1%, gaps in percentage points
    cost: bool = False  # what a model costs (size, time) rather than how good it is
    short: str = ""  # the name inside a sentence ("won with accuracy 97.50%"), when not the label

    @property
    def title(self) -> str:
        return self.short or self.label

    def format(self, value: float | None) -> str:
        if value is None or value != value:  # None or NaN
            return "–"
        if self.fmt == "count":
            return compact_count(value)
        return self.fmt.format(value)

    def format_gap(self, gap: float) -> str:
        return f"{gap * 100:.1f} points" if self.percent else f"{gap:.3f}"


def _m(name: str, label: str, fmt: str = "{:.3f}", **kw) -> MetricInfo:
    return MetricInfo(name, label, fmt, **kw)


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        _m("accuracy", "Test accuracy", "{:.2%}", percent=True, short="accuracy"),
        _m("macro_f1", "Macro-F1"),
        _m("rmse", "RMSE", higher_is_better=False),
        _m("mae", "MAE", higher_is_better=False),
        _m("precision@10", "Precision@10"),
        _m("recall@10", "Recall@10"),
        _m("ndcg@10", "NDCG@10"),
        _m("hit@10", "Hit rate@10", "{:.1%}", percent=True),
        _m("map@10", "MAP@10"),
        _m("coverage@10", "Coverage@10", "{:.1%}", percent=True),
        _m("popular_share@10", "Top-10% share", "{:.1%}", percent=True, higher_is_better=False),
        _m("parameters", "Parameters", "count", higher_is_better=False, cost=True),
        _m("size_mb", "Size", "{:.2f} MB", higher_is_better=False, cost=True),
        _m("latency_ms", "Latency", "{:.2f} ms", higher_is_better=False, cost=True),
        _m("train_seconds", "Training", "{:.1f} s", higher_is_better=False, cost=True),
    )
}


def metric(name: str) -> MetricInfo:
    """A metric's info; one not in the table is written plainly under its own name."""
    return METRICS.get(name) or MetricInfo(name, name, "{:.4f}")


def format_metric(name: str, value: float | None) -> str:
    return metric(name).format(value)


def format_interval(name: str, ci, sep: str = "–") -> str | None:
    """'95% CI 96.9%–99.2%' in the metric's own format; None without a (low, high) interval."""
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    return f"95% CI {format_metric(name, ci[0])}{sep}{format_metric(name, ci[1])}"

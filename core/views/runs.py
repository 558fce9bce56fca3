"""Picking and naming stored runs: filter and sort them, a run's score, labels that tell compared runs apart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from core.eval.metric_info import metric
from core.run.settings import FIELDS
from core.tasks import get_task, run_headline

SORTS = {
    "newest": "newest first",
    "oldest": "oldest first",
    "best": "best score first",
    "fastest": "fastest training first",
}


def score(run: dict[str, Any]) -> float | None:
    """A run's primary metric (its task's spec says which), or None without one."""
    return (run.get("metrics") or {}).get(get_task(run["task"]).spec.primary_metric)


def validation_score(run: dict[str, Any], history: list[dict[str, float]]) -> float | None:
    """A run's validation primary metric at the epoch it kept (the best under early stopping, else its last)."""
    key = f"val_{get_task(run['task']).spec.primary_metric}"
    logged = [h for h in history if h.get(key) is not None]
    if not logged:
        return None
    kept = (run.get("details") or {}).get("best_epoch")
    return float(next((h for h in logged if h.get("epoch") == kept), logged[-1])[key])


def pick_by_validation(
    runs: list[dict[str, Any]], history_of: Callable[[str], list[dict[str, float]] | None]
) -> tuple[dict[str, Any] | None, str]:
    """The run to show as the best and how it was picked: by validation score ("validation"), so that its test
    score is an honest estimate, not a maximum picked on the test split; else, where no run has a validation
    score, the highest test score ("test"), to be labelled as such."""
    if not runs:
        return None, "test"
    higher = metric(get_task(runs[0]["task"]).spec.primary_metric).higher_is_better
    scored = [(v, r) for r in runs if (v := validation_score(r, history_of(r["id"]) or [])) is not None]
    if scored:
        pick = max if higher else min
        return pick(scored, key=lambda vr: vr[0])[1], "validation"
    return min(runs, key=lambda r: _better_first(r)), "test"


def _better_first(run: dict[str, Any]) -> tuple[bool, float]:
    value = score(run)
    if value is None:
        return True, 0.0
    sign = -1.0 if metric(get_task(run["task"]).spec.primary_metric).higher_is_better else 1.0
    return False, sign * value


def filter_runs(
    runs: list[dict[str, Any]],
    tasks: list[str] | None = None,
    statuses: list[str] | None = None,
    search: str | None = None,
    sort: str | None = "newest",
) -> list[dict[str, Any]]:
    """The runs of these tasks and statuses whose id, model, dataset or error contains `search`, sorted."""
    needle = (search or "").strip().lower()
    out = [
        r
        for r in runs
        if (not tasks or r["task"] in tasks)
        and (not statuses or r["status"] in statuses)
        and (not needle or needle in " ".join(str(r.get(k) or "") for k in ("id", "model", "dataset", "error")).lower())
    ]
    if sort == "oldest":
        out.sort(key=lambda r: r["created"])
    elif sort == "best":  # each by its own metric's direction; runs without a score go last
        out.sort(key=_better_first)
    elif sort == "fastest":
        out.sort(key=lambda r: (r.get("seconds") is None, r.get("seconds") or 0))
    return out


def setting_text(value: Any) -> str:
    """A config value as a short text: 0.001, adam, {"shift": 0.1}, – for none."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def short_labels(runs: list[dict[str, Any]]) -> list[str]:
    """Name compared runs by what tells them apart (the fewest differing settings, up to three, model first),
    else by model and id."""
    configs = [r["config"].to_dict() for r in runs]
    keys = list(dict.fromkeys(["model", "dataset", "data", *FIELDS]))
    differ = [k for k in keys if len({json.dumps(c[k], sort_keys=True) for c in configs}) > 1]
    labels = [r["model"] for r in runs]
    for n in range(1, 4):
        said = [" · ".join(f"{k} {setting_text(c[k])}" for k in differ[:n]) for c in configs]
        labels = [text or r["model"] for text, r in zip(said, runs)]
        if len(set(labels)) == len(labels):
            break
    if len(set(labels)) < len(labels):
        labels = [f"{lab} · {r['id'][-4:]}" for lab, r in zip(labels, runs)]
    return labels


def long_label(run: dict[str, Any]) -> str:
    """A run in one line: model, data, its score (or status), when, and the end of its id."""
    shown = run_headline(run) or run["status"]
    when = time.strftime("%b %d %H:%M", time.localtime(run["created"]))
    return f"{run['model']} on {run['dataset']} · {shown} · {when} · {run['id'][-4:]}"

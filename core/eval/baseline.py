"""A classical baseline beside every deep result: the task's closed-form model fitted on the run's own split, scored
on its test split, and a paired test of the run against it on the same test examples."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from core.eval.metric_info import format_interval, format_metric, metric
from core.eval.significance import GapTest, format_p, paired_test
from core.models import get_spec, list_models
from core.run.settings import RunConfig
from core.tasks import Task, TaskSpec, task_spec

MAX_TRAIN = 2_000  # training examples a baseline fits on at most: an SVM's fit grows with their square


def baseline_names(spec: TaskSpec, model: str) -> tuple[str, ...]:
    """The baselines a run of `model` is judged against: none when it is one of them itself."""
    return () if model in spec.baselines else spec.baselines


def fit_baseline(task: Task, data: Any, config: RunConfig, run_metrics: dict, run_artifacts: dict) -> dict | None:
    """Fit the task's baseline(s) on the run's training split (a seeded sample of MAX_TRAIN above that), keep the
    one better on the validation split, score it on the test split and test the run against it. None when the
    run's model is a baseline itself."""
    names = baseline_names(task.spec, config.model)
    if not names:
        return None
    start = time.perf_counter()
    sample, note = task.sample_train(data, MAX_TRAIN, config.split_seed)
    fitted = {name: _fit(task, sample, config, name) for name in names}
    name, choice = _choose(task, data, fitted)
    metrics, details, artifacts = task.evaluate(fitted[name], data)
    primary = task.spec.primary_metric
    kept = {k: float(v) for k, v in metrics.items() if not metric(k).cost}
    gap = (run_metrics[primary] - kept[primary]) * (1 if metric(primary).higher_is_better else -1)
    verdict, test = _verdict(gap, run_artifacts, artifacts, primary)
    return {
        "model": name,
        "label": get_spec(task.spec.name, name).title,
        "metrics": kept,
        "ci95": {k: v for k, v in details.get("ci95", {}).items() if k in kept},
        "metric": primary,
        "verdict": verdict,
        "test": None if test is None else {"name": test.name, "p_value": test.p_value, "detail": test.detail},
        "note": " ".join(n for n in (choice, note) if n),
        "seconds": time.perf_counter() - start,
    }


def run_baseline(task: Task, data: Any, config: RunConfig, run_metrics: dict, run_artifacts: dict) -> dict | None:
    """fit_baseline, for a run that must finish whatever the baseline does: a baseline that cannot be fitted on this
    data (scikit-learn's ValueError) leaves the reason; a Ctrl-C while it fits leaves none."""
    try:
        # one thread: these fits are small dense problems, and the BLAS's spinning threads lose to training
        # processes on the same cores (digits on 2 busy cores: 1.2-2 s instead of 5-7 s)
        with threadpool_limits(1):
            return fit_baseline(task, data, config, run_metrics, run_artifacts)
    except ValueError as exc:
        return {"error": f"the baseline could not be fitted on this data: {exc}"}
    except KeyboardInterrupt:
        return None


def _fit(task: Task, data: Any, config: RunConfig, name: str):
    # seeded by the split alone: runs on the same split (a race over seeds) share one baseline
    blank = {"model_options": {}, "weights_path": None, "init_from": None, "pretrained": None, "freeze_backbone": False}
    base = replace(config, model=name, seed=config.split_seed, **blank)
    model = task.build_model(base, data.meta)
    task.fit_closed_form(model, data, base)
    return model.eval()


def _choose(task: Task, data: Any, fitted: dict[str, Any]) -> tuple[str, str]:
    """The baseline better on the validation split (the first on a tie), and a note saying so (none for one)."""
    if len(fitted) == 1:
        return next(iter(fitted)), ""
    scores = {name: task.validation_score(model, data) for name, model in fitted.items()}
    if None in scores.values():
        first = next(iter(fitted))
        return first, f"{_title(task, first)}: the first of the baselines (no validation split to choose on)."
    best = max(scores, key=lambda n: scores[n])
    shown = metric(task.spec.primary_metric)
    others = ", ".join(f"{_title(task, n)} {shown.format(s)}" for n, s in scores.items() if n != best)
    return best, f"{_title(task, best)} chosen on the validation split ({shown.format(scores[best])}; {others})."


def _title(task: Task, name: str) -> str:
    return get_spec(task.spec.name, name).title


def _verdict(gap: float, run: dict, base: dict, primary: str) -> tuple[str, GapTest | None]:
    """'better', 'level' or 'worse': the run against the baseline (`gap`: how far the run is ahead) by a paired test
    on the same test examples, worded with the one ahead first; 'untested' where the task's metric has none."""
    test = paired_test(run, base, primary) if gap > 0 else paired_test(base, run, primary)
    if test is None:
        return "untested", None
    if not test.distinguishable:
        return "level", test
    return ("better" if gap > 0 else "worse"), test


# ---------------------------------------------------------------- in words (pages, CLI, report)


def score_text(name: str, value: float | None, ci: Any) -> str:
    """'94.2% [89.1%, 97.0%]': a value with its 95% interval in brackets, in the metric's format."""
    interval = f" [{format_metric(name, ci[0])}, {format_metric(name, ci[1])}]" if format_interval(name, ci) else ""
    return f"{format_metric(name, value)}{interval}"


def comparison_line(run: dict[str, Any]) -> str | None:
    """'Test accuracy: cnn_bn 94.2% [89.1%, 97.0%] · baseline PCA+SVM 91.0% [87.6%, 93.6%]' for a stored run;
    None without a baseline."""
    base = (run.get("details") or {}).get("baseline")
    if not base or not base.get("metrics"):
        return None
    name = base["metric"]
    ours = score_text(name, (run.get("metrics") or {}).get(name), (run["details"].get("ci95") or {}).get(name))
    theirs = score_text(name, base["metrics"].get(name), base["ci95"].get(name))
    label = task_spec(run["task"]).label(name)
    return f"{label}: {run['model']} {ours} · baseline {base['label']} {theirs}"


def verdict_text(run: dict[str, Any]) -> tuple[str, str] | None:
    """(verdict, a sentence): does the run beat its baseline beyond noise, by which test, what to try if not."""
    base = (run.get("details") or {}).get("baseline")
    if base and base.get("error"):
        return "error", f"No classical baseline: {base['error']}."
    if not base or not base.get("metrics"):
        return None
    verdict, test, model, label = base["verdict"], base.get("test"), run["model"], base["label"]
    if test is None:
        return verdict, f"No paired test for {base['metric']}: compare the intervals."
    stated = f"{test['name']}, {format_p(test['p_value'])}: {test['detail']}"
    if verdict == "better":
        return verdict, f"{model} beats its classical baseline {label} beyond noise ({stated})."
    if verdict == "worse":
        said = f"{model} does not beat its classical baseline {label}: the baseline is ahead beyond noise ({stated})."
    else:
        said = f"{model} does not beat its classical baseline {label} beyond noise ({stated})."
    return verdict, f"{said} Worth trying: {advice(run['task'], base['model'], run['model'])}."


def advice(task: str, baseline: str, model: str = "") -> str:
    """What to try when a model does not beat its baseline: more data, a pretrained backbone, the baseline."""
    spec = task_spec(task)
    tips = [spec.more_data]
    published = [get_spec(task, m) for m in list_models(task) if get_spec(task, m).pretrained and m != model]
    if published:
        names = " or ".join(f"{s.name} from {s.pretrained.label}" for s in published)
        tips.append(f"a pretrained backbone, frozen ({names}: a head trained in seconds)")
    tips.append(f"the baseline itself (model {baseline}: fitted in seconds)")
    return ", ".join(tips[:-1]) + f" or {tips[-1]}"


VERDICT_WORDS = {"better": "beats it", "level": "not beyond noise", "worse": "behind it", "untested": "untested"}


def baseline_cells(run: dict[str, Any]) -> tuple[str | None, str | None]:
    """A runs table's two cells: the baseline's score ('PCA+SVM 98.61%') and the verdict ('beats it, p < 0.001')."""
    base = (run.get("details") or {}).get("baseline") or {}
    if not base.get("metrics"):
        return None, None
    score = f"{base['label']} {format_metric(base['metric'], base['metrics'].get(base['metric']))}"
    test = base.get("test")
    return score, VERDICT_WORDS[base["verdict"]] + (f", {format_p(test['p_value'])}" if test else "")


def baseline_lines(run: dict[str, Any]) -> list[str]:
    """The baseline in a terminal's lines (`train`, `show`): the comparison, the verdict, how it was fitted."""
    said = verdict_text(run)
    if said is None:
        return []
    base = run["details"]["baseline"]
    lines = [f"classical baseline ({base['label']}, the same split):" if base.get("label") else "classical baseline:"]
    line = comparison_line(run)
    return lines + [f"  {text}" for text in (line, said[1], base.get("note")) if text]

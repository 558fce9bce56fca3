"""Choose each model's training defaults on the validation split only, then report the test numbers once.

Run by hand, one task at a time:

    .venv/bin/python scripts/tune_defaults.py image --models cnn_bn,resnet --seeds 3 --threads 1
    .venv/bin/python scripts/tune_defaults.py speech --models crnn_attention --seeds 3
    .venv/bin/python scripts/tune_defaults.py speech --data DIR --grid noise_snr=none,30,15 --no-test
    .venv/bin/python scripts/tune_defaults.py recsys --models bpr --grid lr=1e-3,2e-3 --grid epochs=30,60 --grid reg=0

For every model, every point of a small grid (the product of each `--grid` key's values, a key being a training
setting, one of the model's options or an augmentation setting, `none` turning one off; the task's own grid
when none is given) trains over `--seeds` initial seeds on each split (`--split-seed`, default 0; several pool their
runs, e.g. `--split-seed 0,1,2,3,8,13` holds out each of the 8 kHz proxy's six training speakers once). Each run is
the model's spec defaults with the grid point over them, trained by the one Trainer and scored on the validation split
only: the trainer's `val_accuracy` (image, speech; ties go to the lower `val_loss`), `val_ndcg@10` (recsys
ranking models) or `val_rmse` (recsys rating models), read at the epoch whose weights the model ends with.
Selection never loads, scores or looks at the test split: these runs go through `fit_on_validation`, which
has no test step.

The rule, the one-standard-error rule (Breiman et al. 1984): the best mean validation score, then the cheapest
setting (fewest optimizer steps) whose mean lies within one standard error of it (of the run-for-run differences
from it, the same split and seed); so a setting that only looks better by the noise does not cost twice the
training time. After selection, and
only then, the chosen setting is trained once more per seed through `run_experiment` and its test numbers are
printed, with the 95% interval of the seed-0 run.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from core.models import get_spec, list_models
from core.run.config import RUN_OPTIONS, fit_to_data, make_config, train_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.training import Trainer, seed_everything
from core.tasks import get_task

# Small grids: a factor of about three in the learning rate around today's values, and half or all the epochs.
GRIDS: dict[str, dict[str, tuple]] = {
    "image": {"lr": (1e-3, 3e-3, 1e-2), "epochs": (15, 30)},
    "speech": {"lr": (1e-3, 3e-3, 1e-2), "epochs": (30, 60)},
    "recsys": {"lr": (1e-3, 3e-3, 1e-2), "epochs": (30, 60)},
}
MAIN_MODELS = {"image": "cnn_bn,resnet,dscnn", "speech": "crnn_attention,cnn", "recsys": "bpr,mf"}


def val_score_key(task: str, model: str) -> tuple[str, int]:
    """The validation metric a model is chosen by, and +1 (higher is better) or -1."""
    if task != "recsys":
        return "val_accuracy", 1
    return ("val_rmse", -1) if get_spec(task, model).objective == "rating" else ("val_ndcg@10", 1)


def fit_on_validation(config: RunConfig, data: Any) -> dict[str, Any]:
    """Train one config on `data`'s training split; its validation scores per epoch. No test step anywhere."""
    task = get_task(config.task)
    config, _ = fit_to_data(config, task.train_size(data))
    seed_everything(config.seed)
    model = task.build_model(config, data.meta)
    trainer = Trainer(model, task.make_objective(config, data), train_config(config)).fit()
    # the weights the model ends with (the best epoch's under early stopping), scored again with the batch norm
    # statistics the trainer recomputed for them at the end
    ended = {**trainer.history[(trainer.best_epoch or len(trainer.history)) - 1], **trainer.evaluate()}
    steps = math.ceil(task.train_size(data) / config.batch_size) * len(trainer.history)
    return {"final": ended, "seconds": trainer.seconds, "steps": steps}


def parse_grid(items: list[str] | None, task: str) -> dict[str, tuple]:
    """`KEY=V1,V2` items -> {key: values}; a key is a training setting or one of the model's options."""
    if not items:
        return GRIDS[task]
    grid = {}
    for item in items:
        key, _, values = item.partition("=")
        whole = key in RUN_OPTIONS and RUN_OPTIONS[key].kind == "int"  # epochs, batch_size, example_budget, ...
        grid[key] = tuple(None if v.lower() == "none" else _number(key, v, whole) for v in values.split(","))
    return grid


def _number(key: str, text: str, whole: bool) -> int | float | str:
    try:
        value = float(text)
    except ValueError:
        if text.isidentifier():  # a choice, e.g. schedule=constant,cosine
            return text
        raise SystemExit(f"--grid {key}: {text} is neither a number nor a choice's name") from None
    if whole and not value.is_integer():
        raise SystemExit(f"--grid {key}: {text} is not a whole number")
    return int(value) if whole else value


def as_settings(task: str, model: str, point: dict[str, Any]) -> dict[str, Any]:
    """A grid point as make_config's keywords: training settings as they are, model options under model_options,
    augmentation settings (the task's augment options; None turns one off) under augment."""
    options = {o.name for o in get_spec(task, model).options}
    augment_names = {o.name for o in get_task(task).spec.augment_options}
    settings = {k: v for k, v in point.items() if k not in options | augment_names}
    if "epochs" in settings:  # a grid over epochs trains the epochs it names, not the budget's or the floor's
        settings = {"example_budget": 0, "min_steps": 0} | settings
    chosen_options = {k: v for k, v in point.items() if k in options}
    augment = {k: v for k, v in point.items() if k in augment_names}
    return (
        settings
        | ({"model_options": chosen_options} if chosen_options else {})
        | ({"augment": augment} if augment else {})
    )


def tune_model(
    task: str,
    model: str,
    grid: dict[str, tuple],
    seeds: int,
    sets: dict[str, dict[int, Any]],
    base: dict,
    budget: float | None = None,
) -> dict:
    """Every grid point over every set (`sets`: set name -> {split seed -> data}), each of its splits x `seeds`
    initial seeds. A point whose runs on a set average more than `budget` seconds is not chosen (marked)."""
    if sets and not isinstance(next(iter(sets.values())), dict):
        sets = {"data": sets}  # one set: {split seed -> data}
    key, sign = val_score_key(task, model)
    rows = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        settings = as_settings(task, model, point)
        runs, by_set = [], {}  # by_set: each run's score by set and "split/seed", so settings are compared run for run
        for name, splits in sets.items():
            by_run = by_set.setdefault(name, {})
            for split, data in splits.items():
                for seed in range(seeds):
                    config = make_config(task, model, **{**base, "split_seed": split, **_source(data)}, seed=seed,
                                         **settings)  # fmt: skip
                    runs.append(fit_on_validation(config, data) | {"set": name})
                    by_run[f"{split}/{seed}"] = score = runs[-1]["final"][key]
                    print(f"  {model} {point} {name} split {split} seed {seed}: {key} {score:.4f}", file=sys.stderr,
                          flush=True)  # fmt: skip
        scores = [v for by_run in by_set.values() for v in by_run.values()]
        seconds = {n: statistics.mean(r["seconds"] for r in runs if r["set"] == n) for n in by_set}
        rows.append(
            {
                "setting": point,
                "val_mean": statistics.mean(scores),
                "val_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                "runs": len(scores),
                "sets": by_set,
                "set_means": {n: statistics.mean(v.values()) for n, v in by_set.items()},
                "scores": {f"{n}/{k}": v for n, by_run in by_set.items() for k, v in by_run.items()},
                "val_loss": statistics.mean(r["final"].get("val_loss", 0.0) for r in runs),
                "steps": statistics.mean(r["steps"] for r in runs),
                "seconds": statistics.mean(r["seconds"] for r in runs),
                "set_seconds": seconds,
                "over_budget": budget is not None and max(seconds.values()) > budget,
            }
        )
    best, chosen = choose_robust(rows, sign)
    return {"model": model, "key": key, "rows": rows, "best": best, "chosen": chosen}


def _source(data: Any) -> dict:
    """Where a set's data came from, as make_config's keywords (each set names its own)."""
    source = getattr(data, "source", None)
    return source if isinstance(source, dict) else {}


def choose(rows: list[dict], sign: int, runs: int) -> tuple[dict, dict]:
    """(best, chosen): the best mean validation score (ties: the lower validation loss), and the one-standard-error
    choice, the fewest optimizer steps among the rows whose mean lies within one standard error of the best.

    With each run's score (`scores`, by split and seed) the standard error is that of the paired differences
    from the best, run for run: how hard each held-out split is then cancels out, where pooled over splits it
    would pass for noise and let a worse setting through. Without them, the best's standard deviation over its
    `runs` runs over the square root of their number.
    """
    best = max(rows, key=lambda r: (sign * r["val_mean"], -r["val_loss"]))
    return best, min((r for r in rows if _near(r, best, sign, runs)), key=_cost(sign))


def _cost(sign: int):
    return lambda r: (r["steps"], -sign * r["val_mean"], r["val_loss"])


def _near(row: dict, best: dict, sign: int, runs: int, scores: str = "scores") -> bool:
    """`row` lies within one standard error of `best`: of the run-for-run differences where both have them."""
    paired = row.get(scores, {}).keys() & best.get(scores, {}).keys()
    if len(paired) > 1:
        gaps = [sign * (best[scores][k] - row[scores][k]) for k in paired]
        return statistics.mean(gaps) <= statistics.stdev(gaps) / math.sqrt(len(gaps))
    return sign * (best["val_mean"] - row["val_mean"]) <= best["val_std"] / math.sqrt(runs)


def regret(row: dict, rows: list[dict], sign: int) -> float:
    """How far `row` falls behind the best row on its worst set: the largest, over the sets, of the best mean
    validation score there minus this row's (0 for a row that is best everywhere)."""
    return max(
        max(sign * r["set_means"][name] for r in rows) - sign * row["set_means"][name] for name in row["set_means"]
    )


def choose_robust(rows: list[dict], sign: int) -> tuple[dict, dict]:
    """The worst-set rule, for one set or several: (best, chosen).

    `best` has the smallest regret (its shortfall from the best row on its worst set, so no set's loss is
    averaged away by another set's gain; ties: the higher mean over all runs). `chosen` is the cheapest row (fewest
    optimizer steps) that is within one run-for-run standard error of `best` on every set, so a setting that only
    looks better by the noise does not cost more training. Rows over the time budget (`over_budget`) are never
    chosen, unless every row is. With one set this is the one-standard-error rule of `choose`.
    """
    if "set_means" not in rows[0]:  # rows without sets: one pooled set
        return choose(rows, sign, rows[0].get("runs", 1))
    allowed = [r for r in rows if not r.get("over_budget")] or rows
    best = min(allowed, key=lambda r: (regret(r, rows, sign), -sign * r["val_mean"], r["val_loss"]))

    def near_everywhere(row: dict) -> bool:
        return all(
            _near({"scores": row["sets"][n], "val_mean": row["set_means"][n]},
                  {"scores": best["sets"][n], "val_mean": best["set_means"][n], "val_std": 0.0}, sign, 1)
            for n in best["sets"]
        )  # fmt: skip

    return best, min((r for r in allowed if near_everywhere(r)), key=_cost(sign))


def validation_fingerprint(data: Any) -> str:
    """A digest of a split's validation part by its content, for every task: the files it names where the data
    keep them (speech), else its labels and inputs (image), else its interactions (recsys)."""
    digest = hashlib.sha1()
    files = getattr(data, "files", None)
    if isinstance(files, dict) and files.get("val"):
        digest.update("\n".join(files["val"]).encode())
    elif hasattr(data, "splits"):  # recsys: the validation interactions
        val = data.splits["val"]
        for t in (val.users, val.items, val.ratings):
            digest.update(t.numpy().tobytes())
    else:
        digest.update(data.y["val"].numpy().tobytes())
        digest.update(data.x["val"].numpy().tobytes())
    return digest.hexdigest()


def distinct_splits(splits: dict[int, Any]) -> dict[int, Any]:
    """The split seeds whose validation splits differ by content: given split folders, Speech Commands' lists or
    the time protocol (every user's second-to-last interaction) fix the split, and the same runs twice would only
    shrink the standard error. Says which were left out."""
    kept: dict[int, Any] = {}
    seen: dict[str, int] = {}
    for seed, data in splits.items():
        val = validation_fingerprint(data)
        if val in seen:
            print(f"  split {seed}: the same validation split as split {seen[val]} (the data fix it): left out")
            continue
        seen[val] = seed
        kept[seed] = data
    return kept


def test_once(task: str, model: str, setting: dict, seeds: int, base: dict, sets: dict[str, dict]) -> dict:
    """After selection: the chosen setting's test numbers on every set, over the same splits and seeds."""
    primary = get_task(task).spec.primary_metric
    settings = as_settings(task, model, setting)
    out = {"metric": primary, "sets": {}}
    for name, splits in sets.items():
        results = [
            run_experiment(
                make_config(task, model, **{**base, "split_seed": split, **_source(data)}, seed=s, **settings)
            )  # fmt: skip
            for split, data in splits.items()
            for s in range(seeds)
        ]
        values = [r.metrics[primary] for r in results]
        out["sets"][name] = {
            "mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,  # the sample deviation, as races use
            "runs": len(values),
            "ci95_first": results[0].details["ci95"][primary],
            "seconds": statistics.mean(r.metrics["train_seconds"] for r in results),
            **({"rmse": statistics.mean(r.metrics["rmse"] for r in results)} if "rmse" in results[0].metrics else {}),
        }
    return out


def print_model(report: dict, spec_defaults: dict, grid: dict) -> None:
    key = report["key"]
    names = list(report["rows"][0].get("set_means", {}))
    print(f"\n#### {report['model']} (by {key}, mean ± std over sets x splits x seeds; spec today: "
          + ", ".join(f"{k}={spec_defaults.get(k)}" for k in grid) + ")\n")  # fmt: skip
    print(f"| {' | '.join(grid)} | {key} | {' | '.join(names)} | worst-set regret | optimizer steps | train s | |")
    print("|" + "---|" * (len(grid) + len(names) + 5))
    for r in report["rows"]:
        mark = "chosen" if r is report["chosen"] else ("least regret" if r is report["best"] else "")
        mark += " (over the time budget)" if r.get("over_budget") else ""
        cells = " | ".join("off" if v is None else v if isinstance(v, str) else f"{v:g}" for v in r["setting"].values())
        per_set = " | ".join(f"{r['set_means'][n]:.4f}" for n in names)
        print(
            f"| {cells} | {r['val_mean']:.4f} ± {r['val_std']:.4f} | {per_set} | "
            f"{regret(r, report['rows'], 1 if key != 'val_rmse' else -1):.4f} | {r['steps']:.0f} "
            f"| {r['seconds']:.1f} | {mark} |"
        )


def parse_sets(task: str, items: list[str] | None, base: dict, split_seeds: list[int]) -> dict[str, dict]:
    """`--set NAME` (a bundled set) or `--set NAME=PATH[,PATH...]` (folders or files, each one split of the set):
    {name -> {split key -> data}}, every path and bundled set under each split seed, repeats (by the validation
    split's content) left out. Without --set: the one set --dataset/--data names."""
    if items:
        named = [item.partition("=") for item in items]
        groups = {n: [{"data": p} for p in paths.split(",")] if eq else [{"dataset": n}] for n, eq, paths in named}
    else:  # the one set --dataset/--data name (base holds them)
        groups = {base.get("data") or base.get("dataset") or get_task(task).spec.dataset_names[0]: [{}]}
    sets: dict[str, dict] = {}
    for name, sources in groups.items():
        loaded = {}
        for i, source in enumerate(sources):
            for seed in split_seeds:
                config = make_config(task, **{**base, **source, "split_seed": seed})
                data = get_task(task).load_data(config)
                data.source = {**source, "split_seed": seed}
                loaded[seed if len(sources) == 1 else f"{i}.{seed}"] = data
        print(f"set {name}:")
        sets[name] = distinct_splits(loaded)
        for key, data in sets[name].items():
            print(f"  split {key}: {getattr(data, 'split_note', '')}")
    return sets


def choose_model(reports: list[dict], sign: int) -> dict:
    """The task's default model by the same worst-set rule, over each model's chosen setting."""
    rows = [r["chosen"] | {"model": r["model"]} for r in reports]
    best, chosen = choose_robust(rows, sign)
    return {
        "best": best["model"],
        "chosen": chosen["model"],
        "regret": {r["model"]: regret(r, rows, sign) for r in rows},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=tuple(GRIDS))
    parser.add_argument("--models", help="comma-separated (default: the task's main models)")
    parser.add_argument("--dataset", help="bundled dataset (default: the task's first)")
    parser.add_argument("--data", help="your own folder or file instead (validation: carved from its training part)")
    parser.add_argument(
        "--set",
        action="append",
        help="a data set to score on, repeatable: NAME (bundled) or NAME=PATH[,PATH...] (each path one split of "
        "the set, e.g. the leave-one-speaker-out folders); the worst-set rule chooses across them",
    )
    parser.add_argument("--grid", action="append", help="KEY=V1,V2 (repeatable); default: the task's grid")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--split-seed",
        default="0",
        help="which validation split (your train/ carved anew); several, comma-separated (e.g. 0,1,2), pool every "
        "grid point's runs over those splits, so one held-out speaker or batch of photos does not decide",
    )
    parser.add_argument("--budget-seconds", type=float, help="a setting whose runs on a set average more is not chosen")
    parser.add_argument("--choose-model", action="store_true", help="also choose the task's default model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-test", action="store_true", help="select only; do not report test numbers")
    parser.add_argument("--json", help="write the whole report to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = args.task
    models = (args.models or MAIN_MODELS[task]).split(",")
    models = [m for m in models if m in list_models(task)]
    grid = parse_grid(args.grid, task)
    try:
        split_seeds = list(dict.fromkeys(int(s) for s in args.split_seed.split(",")))
    except ValueError:
        raise SystemExit(f"--split-seed: {args.split_seed} is not a whole number or a list of them") from None
    base = {"device": "cpu", "split_seed": split_seeds[0], "dataset": args.dataset, "data": args.data}
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {task}; grid {grid}; {args.seeds} seeds "
          "per split; selected on the validation splits only, by the worst-set rule")  # fmt: skip
    sets = parse_sets(task, args.set, {k: v for k, v in base.items() if k != "split_seed"}, split_seeds)
    reports = []
    for model in models:
        spec = get_spec(task, model)
        if spec.closed_form:
            print(f"\n{model}: closed form, no training settings to tune", flush=True)
            continue
        report = tune_model(task, model, grid, args.seeds, sets, base, args.budget_seconds)
        print_model(report, {**spec.option_defaults(), **spec.augment, **spec.defaults}, grid)
        chosen = report["chosen"]["setting"]
        today = {**spec.option_defaults(), **spec.augment, **spec.defaults}
        changed = {k: v for k, v in chosen.items() if today.get(k) != v}
        print(f"\nchosen for {model}: {chosen} ({'changes ' + str(changed) if changed else 'the spec default'})")
        reports.append(report)
    if args.choose_model and len(reports) > 1:
        verdict = choose_model(reports, val_score_key(task, reports[0]["model"])[1])
        print(f"\ndefault model by the worst-set rule: {verdict['chosen']} (least regret: {verdict['best']}; regret "
              + ", ".join(f"{m} {v:.4f}" for m, v in verdict["regret"].items()) + ")")  # fmt: skip
    for report in [] if args.no_test else reports:
        report["test"] = test_once(task, report["model"], report["chosen"]["setting"], args.seeds, base, sets)
        for name, t in report["test"]["sets"].items():
            low, high = t["ci95_first"]
            print(
                f"test, once, after selection: {report['model']} on {name}: {report['test']['metric']} "
                f"{t['mean']:.4f} ± {t['std']:.4f} over {t['runs']} runs (the first run's 95% interval "
                f"[{low:.4f}, {high:.4f}]), {t['seconds']:.1f} s training"
                + (f"; rmse {t['rmse']:.4f}" if "rmse" in t else ""),
                flush=True,
            )
    print(f"\n(whole run: {time.perf_counter() - start:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1, default=str))


if __name__ == "__main__":
    main()

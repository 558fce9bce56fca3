"""Command line for the what-if lab, headless: `python -m core race TASK --vary KEY=V1,V2 --seeds N`."""

from __future__ import annotations

import json
import sys
from typing import Any

from core.cli.common import INTERRUPTED, add_backend_flags, add_data_flags, add_runs_flag, text_table
from core.lab.whatif import AXES, MAX_RUNS, MAX_SEEDS, SWITCHES, at_best_lr
from core.run.command import add_train_settings, train_options
from core.run.config import RUN_OPTIONS
from core.run.lr_search import OWN_LR_NOTE, SEARCH_EXTEND, SEARCH_FRACTION, SEARCH_POINTS, search_note
from core.run.store import RunStore

SWITCH_WORDS = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}
NUMBERS = {"lr": float, "batch_size": int}  # axes whose values are numbers, and their kind


def add_parser(sub) -> None:
    race = sub.add_parser(
        "race",
        help="what-if: train variants of one base configuration over seeds and compare them",
        description="Each --vary names an axis and its values; the race trains every combination over the seeds "
        "(one run after another, into the run store; with --backend ray all at once on the cluster) and says which "
        "variant won and whether the gap is real. "
        "The train flags set the base configuration.",
    )
    race.add_argument("task")
    race.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help=f"an axis and its values, e.g. optimizer=sgd,adam or lr=0.001,0.01; axes: {', '.join(AXES)} "
        "(on/off for batch_norm, separable and attention; run ids or 'scratch' for init_from)",
    )
    race.add_argument("--seeds", type=int, default=1, help=f"seeds per variant, 1 to {MAX_SEEDS} (default 1)")
    race.add_argument(
        "--same-lr",
        action="store_true",
        help="train every variant at the base learning rate; by default, when the race varies the optimizer, batch "
        "size, an architecture switch or the model (and not lr), each run first tries "
        f"{SEARCH_POINTS} learning rates (up to {SEARCH_POINTS + SEARCH_EXTEND} when the best is at the edge) for "
        f"1/{SEARCH_FRACTION} of its epochs on the validation split and trains at the best",
    )
    add_data_flags(race)
    add_train_settings(race)
    add_runs_flag(race)
    add_backend_flags(race)
    race.add_argument("--json", action="store_true", help="print the race as one JSON line at the end")
    race.set_defaults(func=cmd_race)


def parse_axes(items: list[str], task: str, store: RunStore) -> dict[str, list[Any]]:
    """`--vary KEY=V1,V2` items as whatif.expand's axes, each value parsed and checked for its axis."""
    axes: dict[str, list[Any]] = {}
    for item in items:
        key, _, words = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in AXES:
            raise ValueError(f"unknown axis {key!r} in --vary {item}; choose from {', '.join(AXES)}")
        if key in axes:
            raise ValueError(f"--vary {key} is given twice; list all its values in one: {key}=V1,V2")
        values = [axis_value(key, word.strip(), task, store) for word in words.split(",") if word.strip()]
        if not values:
            raise ValueError(f"--vary {key} needs values: {key}=V1,V2")
        axes[key] = list(dict.fromkeys(values))  # a value given twice races once
    return axes


def axis_value(axis: str, word: str, task: str, store: RunStore) -> Any:
    """One command-line word as a value of `axis`; ValueError saying what the axis takes."""
    if axis in SWITCHES:
        if word.lower() not in SWITCH_WORDS:
            raise ValueError(f"--vary {axis} takes on/off or true/false, not {word!r}")
        return SWITCH_WORDS[word.lower()]
    if axis == "model":
        from core.models import get_spec

        return get_spec(task, word).name  # an unknown model: ValueError naming the task's models
    if axis == "init_from":
        if word == "scratch":
            return None
        if store.get(word) is None:
            raise ValueError(f"--vary init_from: no run {word} in {str(store.root).rstrip('/')}/")
        return word
    value: Any = word
    if axis in NUMBERS:
        try:
            value = NUMBERS[axis](word)
        except ValueError:
            raise ValueError(f"--vary {axis} takes numbers ({RUN_OPTIONS[axis].range_text()}), not {word!r}") from None
    return RUN_OPTIONS[axis].check(value, "--vary")  # optimizer, lr, batch_size: named choices and ranges


def race_verdict(task: str, stats: list) -> str:
    """compare.py's verdict on the variants, as plain text (its summary is Markdown for the pages)."""
    from core.eval.compare import primary_metric, summary_text, verdict

    return summary_text(verdict(stats, primary_metric(task))).replace("**", "")


def cmd_race(args) -> int:
    from core.eval.compare import variant_stats
    from core.lab.whatif import expand
    from core.run.config import make_config
    from core.run.experiment import run_experiment
    from core.run.training import Diverged
    from core.tasks import get_task

    base = make_config(args.task, args.model, dataset=args.dataset, data=args.data, **train_options(args))
    store = RunStore(args.runs)
    plan = expand(base, parse_axes(args.vary, args.task, store), args.seeds, lr_search=not args.same_lr)
    if not plan.variants:
        raise ValueError("nothing to race: " + "; ".join(plan.skipped))
    if plan.runs > MAX_RUNS:
        raise ValueError(
            f"this race needs {plan.runs} runs ({len(plan.variants)} variants × {args.seeds} seeds); "
            f"at most {MAX_RUNS}: race fewer values or seeds"
        )
    for reason in plan.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    if plan.search_runs:
        edge = f"{SEARCH_EXTEND} more for a run whose best is at an edge; --same-lr: none"
        print(
            f"each variant at its own best learning rate: {plan.search_runs} short runs on the validation split "
            f"first ({edge})",
            file=sys.stderr,
        )
    index = {id(v): i for i, v in enumerate(plan.variants)}
    run_ids: list[list[str]] = [[] for _ in plan.variants]
    finished: list[list[dict[str, Any]]] = [[] for _ in plan.variants]  # each finished run's metrics and artifacts
    failed, interrupted = [], False
    remote = None  # with --backend ray every run is queued on the cluster at once; results come back in order
    if args.backend == "ray":
        from core.exec.jobs import result_of, run_jobs

        remote = run_jobs([config for _, config in plan.interleaved()], store, "ray", args.ray_address)
    for n, (variant, config) in enumerate(plan.interleaved(), 1):
        print(f"[{n}/{plan.runs}] {variant.label} · seed {config.seed}", file=sys.stderr, flush=True)
        try:
            result = run_experiment(config, store) if remote is None else result_of(next(remote))
        except Diverged as exc:
            failed.append(f"{variant.label} (seed {config.seed}): diverged: {exc}")
            continue
        run_ids[index[id(variant)]].append(result.run_id)
        if result.details.get("lr_search"):
            print(f"  {search_note(result.details['lr_search'])}", file=sys.stderr, flush=True)
        if result.status == "stopped":  # Ctrl-C: the race ends here; a cut-short run is not compared
            interrupted = True
            break
        finished[index[id(variant)]].append(
            {
                "metrics": result.metrics,
                "artifacts": store.load_artifacts(result.run_id),
                "lr_search": result.details.get("lr_search"),
            }
        )
    if remote is not None:
        remote.close()  # stops what an interrupted race left running
    metric = get_task(args.task).spec.primary_metric
    searches = [[r["lr_search"] for r in runs if r["lr_search"]] for runs in finished]
    shown = [at_best_lr(v.label, [s["chosen"] for s in found]) for v, found in zip(plan.variants, searches)]
    stats = [
        variant_stats(label, [r["metrics"] for r in runs], metric, [r["artifacts"] for r in runs])
        for label, runs in zip(shown, finished)
    ]
    text = race_verdict(args.task, stats)
    if interrupted:
        text = "Interrupted (Ctrl-C): compared the runs that finished. " + text
    print(race_table(metric, stats, run_ids))
    print(text)
    if any(searches):
        print(OWN_LR_NOTE)
    if args.json:
        variants = [
            {
                "label": v.label,
                "shown": s.label,
                "runs": ids,
                "mean": s.mean if s.n else None,
                "std": s.std if s.n else None,
                "values": s.values,
                "lr_search": found,  # per finished run: the learning rates tried, their validation scores, the choice
            }
            for v, s, ids, found in zip(plan.variants, stats, run_ids, searches)
        ]
        skipped = plan.skipped + failed
        print(
            json.dumps(
                {
                    "task": args.task,
                    "metric": metric,
                    "variants": variants,
                    "verdict": text,
                    "skipped": skipped,
                    "backend": args.backend,
                }
            )
        )
    return INTERRUPTED if interrupted else 0


def race_table(metric_name: str, stats: list, run_ids: list[list[str]]) -> str:
    """One row per variant: the primary metric's mean ± seed std, seeds done, training time, parameters."""
    from core.eval.metric_info import format_metric, metric

    info = metric(metric_name)
    rows = []
    for s, ids in zip(stats, run_ids):
        value = format_metric(metric_name, s.mean if s.n else None)
        if s.n > 1:
            value += f" ± {info.format_gap(s.std)}"
        rows.append(
            [
                s.label,
                value,
                f"{s.n}/{len(ids)}",
                format_metric("train_seconds", s.costs.get("train_seconds")),
                format_metric("parameters", s.costs.get("parameters")),
            ]
        )
    return text_table(["variant", f"{info.label} (mean ± std)", "seeds", "training", "parameters"], rows)

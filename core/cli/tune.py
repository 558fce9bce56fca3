"""Command line for Tune, headless: `python -m core tune TASK --search KEY=LOW:HIGH[:log] --search KEY=V1,V2`."""

from __future__ import annotations

import json
import sys
import time

from core.cli.common import INTERRUPTED, add_backend_flags, add_data_flags, add_runs_flag, text_table
from core.lab.tune import MAX_TRIALS, PRUNERS, TUNABLE, TuneSpec, parse_search, storage_url, trials_table
from core.run.command import add_train_settings, command_for, train_options
from core.run.store import RunStore


def add_parser(sub) -> None:
    tune = sub.add_parser(
        "tune",
        help="search settings with Optuna (TPE, pruned on validation), then train and test the best once",
        description="Each --search names a setting and its range (LOW:HIGH, or LOW:HIGH:log) or values (V1,V2). Trials "
        "train in worker processes (with --backend ray, as Ray tasks) on the training split and are scored on the "
        "validation split; the pruner stops a trial whose per-epoch validation score falls behind. The best trial "
        "is trained once more and tested: the only time the test split is read. The study is stored in the run "
        "store's folder (tune.db): the same command again resumes it. The train flags set the base configuration.",
    )
    tune.add_argument("task")
    tune.add_argument(
        "--search",
        action="append",
        required=True,
        metavar="KEY=LOW:HIGH[:log] | KEY=V1,V2",
        help=f"a setting to search, e.g. lr=1e-4:1e-2:log or batch_norm=on,off; settings: {', '.join(TUNABLE)}",
    )
    tune.add_argument("--trials", type=int, default=20, help=f"trials at most, 1 to {MAX_TRIALS} (default 20)")
    tune.add_argument("--minutes", type=float, help="no new trial starts after this many minutes")
    tune.add_argument("--pruner", choices=list(PRUNERS), default="halving", help="default: halving")
    tune.add_argument("--max-parameters", type=float, help="a trial with more parameters does not count")
    tune.add_argument("--max-latency-ms", type=float, help="a trial slower on one example does not count")
    tune.add_argument("--workers", type=int, default=2, help="trials at once, in worker processes (default 2)")
    tune.add_argument("--tune-seed", type=int, default=0, help="the sampler's seed (default 0)")
    add_data_flags(tune)
    add_train_settings(tune)
    add_runs_flag(tune)
    add_backend_flags(tune)
    tune.add_argument("--json", action="store_true", help="print the study's result as one JSON line at the end")
    tune.set_defaults(func=cmd_tune)


def spec_from_args(args) -> TuneSpec:
    from core.run.config import make_config

    base = make_config(args.task, args.model, dataset=args.dataset, data=args.data, **train_options(args))
    dims = [parse_search(item, args.task) for item in args.search]
    names = [d.name for d in dims]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"--search {', '.join(twice)} is given twice")
    limits = {"parameters": args.max_parameters, "latency_ms": args.max_latency_ms}
    return TuneSpec(
        base,
        [d.text() for d in dims],
        args.trials,
        args.minutes,
        args.pruner,
        {k: v for k, v in limits.items() if v is not None},
        args.tune_seed,
    )


def cmd_tune(args) -> int:
    from core.exec.jobs import JobManager
    from core.lab.tune import Tuner

    spec = spec_from_args(args)
    store = RunStore(args.runs)
    backend = "ray" if args.backend == "ray" else "process"
    jobs = JobManager(store, max_workers=args.workers, backend=backend, ray_address=args.ray_address)
    started = time.perf_counter()
    tuner = Tuner(spec, storage_url(args.runs), jobs, parallel=args.workers)
    print(f"study {tuner.name} in {storage_url(args.runs)}: {' '.join(spec.dims)}", file=sys.stderr, flush=True)
    interrupted = False
    try:
        tuner.start()
        shown: set[int] = set()
        while tuner.alive:
            try:
                tuner.thread.join(0.5)
            except KeyboardInterrupt:  # Ctrl-C: every trial stops; the study stays, and the same command resumes it
                interrupted = True
                tuner.stop()
            _print_ended(tuner.study, shown)
    finally:
        jobs.shutdown()
    return _report(args, tuner, time.perf_counter() - started, interrupted)


def _print_ended(study, shown: set[int]) -> None:
    """A line on stderr for each trial that ended since the last look."""
    for row in trials_table(study):
        if row["state"] != "running" and row["trial"] not in shown:
            shown.add(row["trial"])
            value = "" if row["value"] is None else f" {row['value']:.4f}"
            print(f"trial {row['trial']}: {row['state']}{value}", file=sys.stderr, flush=True)


def _report(args, tuner, seconds: float, interrupted: bool) -> int:
    study, spec = tuner.study, tuner.spec
    rows = trials_table(study)
    params = [d.split("=")[0] for d in spec.dims]
    print(
        text_table(
            ["trial", "state", spec.metric, *params, "epochs", "seconds", "run"],
            [
                [r["trial"], r["state"], "" if r["value"] is None else f"{r['value']:.4f}"]
                + [r.get(p, "") for p in params]
                + [r["epochs"], r["seconds"], r["run"]]
                for r in rows
            ],
        )
    )
    attrs = study.user_attrs
    out = {"study": tuner.name, "task": spec.task, "metric": spec.metric, "direction": spec.direction}
    out.update(trials=len(rows), seconds=round(seconds, 2), state=attrs.get("state"), limits=spec.limits)
    out["pruned"] = sum(1 for r in rows if r["state"] == "pruned")
    best_run = attrs.get("best_run")
    if best_run:
        best = study.trials[attrs["best_trial"]]
        run = RunStore(args.runs).get(best_run)
        out.update(best={"trial": best.number, "params": best.params, "value": best.value}, best_run=best_run)
        out["metrics"] = run["metrics"] if run else {}
        print(f"best: trial {best.number} {spec.metric} {best.value:.4f} with {best.params}")
        print(f"tested once as run {best_run}: {_test_line(out['metrics'], spec.task)}")
        print(f"reproduce: {command_for(run['config']) if run else 'the run was deleted'}")
    elif attrs.get("best_error") or tuner.error:
        print(f"no best run: {attrs.get('best_error') or tuner.error}", file=sys.stderr)
    if args.json:
        print(json.dumps(out, default=str))
    if tuner.error:
        raise ValueError(tuner.error)
    return INTERRUPTED if interrupted else 0


def _test_line(metrics: dict, task: str) -> str:
    from core.eval.metric_info import format_metric
    from core.tasks import get_task

    primary = get_task(task).spec.primary_metric
    return f"test {primary} {format_metric(primary, metrics.get(primary))}"

"""Tune's targets (issue 21): on digits, 20 pruned trials vs 5 full runs (time) and vs a full grid over the same space
(best validation score); on ORL faces, the tuned cnn_bn vs its spec defaults (test, read once each).

    .venv/bin/python benchmarks/tune.py [--trials 20] [--workers 2] [--orl /tmp/real/orl-k5-s0 --orl-trials 12]

Every part runs through core/lab/tune.py's Tuner on one job manager (worker processes), so the overheads are the same:
"5 full runs" is a study of 5 trials without pruning, the grid a study whose 10 trials are enqueued grid points. On a
busy machine compare the ratios within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from core.exec.jobs import JobManager
from core.lab.tune import Tuner, TuneSpec, base_params, parse_search, storage_url, trial_config
from core.run.config import make_config
from core.run.settings import RunConfig
from core.run.store import RunStore

SPACE = ["lr=0.0001:0.01:log", "batch_norm=on,off"]
GRID_LR = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]


def study(jobs, root: Path, base: RunConfig, trials: int, pruner: str, grid: list[dict] | None = None) -> dict:
    """One study end to end: its search time, its best validation score and settings, and the trial states."""
    spec = TuneSpec(base, SPACE, trials, pruner=pruner)
    tuner = Tuner(spec, storage_url(root), jobs)
    for params in grid or []:
        tuner.study.enqueue_trial(params)
    started = time.perf_counter()
    tuner._search()  # the search alone: the best's test run is timed apart
    seconds = time.perf_counter() - started
    states = [t.user_attrs.get("ended") for t in tuner.study.trials]
    best = tuner.study.best_trial
    return {
        "seconds": round(seconds, 1),
        "best_value": best.value,
        "best_params": best.params,
        "states": {s: states.count(s) for s in set(states)},
        "tuner": tuner,
    }


def seed_noise(jobs, base: RunConfig, params: dict, seeds: int) -> list[float]:
    """The grid best's validation accuracy over initial seeds (trained as trials: validation only)."""
    config = trial_config(base, params)
    submitted = [jobs.submit(replace(config, seed=s), limit=99, test=False) for s in range(seeds)]
    return [jobs.wait(j.id, 900).result.metrics["val_accuracy"] for j in submitted]


def digits(args, root: Path) -> dict:
    store = RunStore(root / "runs")
    jobs = JobManager(store, max_workers=args.workers, backend="process")
    base = make_config("image", "cnn_bn", dataset="digits")
    try:
        full5 = study(jobs, root / "full5", base, 5, "none")
        tuned = study(jobs, root / "tuned", base, args.trials, "halving")
        start = base_params(base, [parse_search(d, "image") for d in SPACE])  # each study's first trial already
        grid_points = [{"lr": lr, "batch_norm": bn} for bn in (True, False) for lr in GRID_LR]
        grid_points = [g for g in grid_points if g != start]
        grid = study(jobs, root / "grid", base, len(grid_points) + 1, "none", grid_points)
        noise = seed_noise(jobs, base, grid["best_params"], args.seeds)
        tuned["tuner"]._train_best()
        best_run = store.get(tuned["tuner"].study.user_attrs["best_run"])
    finally:
        jobs.shutdown()
    n_val = 180  # digits' validation split (10% of 1,797)
    p = grid["best_value"]
    noise_sd = max(statistics.stdev(noise) if len(noise) > 1 else 0.0, math.sqrt(p * (1 - p) / n_val))
    gap = grid["best_value"] - tuned["best_value"]
    out = {
        "trials": args.trials,
        "workers": args.workers,
        "seconds_5_full": full5["seconds"],
        "seconds_tuned": tuned["seconds"],
        "time_ratio": round(tuned["seconds"] / full5["seconds"], 2),
        "tuned_states": tuned["states"],
        "tuned_best": {"val_accuracy": tuned["best_value"], **tuned["best_params"]},
        "grid_seconds": grid["seconds"],
        "grid_best": {"val_accuracy": grid["best_value"], **grid["best_params"]},
        "grid_best_over_seeds": noise,
        "noise_sd": round(noise_sd, 4),
        "gap": round(gap, 4),
        "within_noise": gap <= 2 * noise_sd,
        "tuned_best_test_accuracy": (best_run or {}).get("metrics", {}).get("accuracy"),
    }
    return out


def orl(args, root: Path) -> dict:
    """ORL faces: the spec defaults' run and the tuned best's run, each tested once."""
    from core.cli import main

    runs = str(root / "orl-runs")
    common = ["image", "--data", args.orl, "--model", "cnn_bn", "--runs", runs, "--json"]
    results = {}
    for name, argv in {
        "defaults": ["train", *common],
        "tuned": ["tune", *common, "--trials", str(args.orl_trials), "--workers", str(args.workers)]
        + ["--search", "lr=0.0003:0.01:log", "--search", "batch_size=8:64:log"],
    }.items():
        started = time.perf_counter()
        out = Path(root / f"orl-{name}.json")
        with out.open("w") as f:
            stdout, sys.stdout = sys.stdout, f
            try:
                main(argv)
            finally:
                sys.stdout = stdout
        line = json.loads(out.read_text().strip().splitlines()[-1])
        results[name] = {
            "test_accuracy": line["metrics"]["accuracy"],
            "ci95": line.get("ci95", {}).get("accuracy"),
            "seconds": round(time.perf_counter() - started, 1),
            **({"best": line["best"], "state": line["state"]} if name == "tuned" else {}),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the grid best, for the noise")
    parser.add_argument("--orl", help="an ORL faces layout (e.g. /tmp/real/orl-k5-s0); without it, digits only")
    parser.add_argument("--orl-trials", type=int, default=12)
    parser.add_argument("--skip-digits", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = {} if args.skip_digits else {"digits": digits(args, Path(tmp))}
        if not args.skip_digits:
            print(json.dumps(report["digits"], default=str), flush=True)
        if args.orl:
            report["orl"] = orl(args, Path(tmp))
            print(json.dumps(report["orl"], default=str), flush=True)


if __name__ == "__main__":
    main()

"""Command line: `python -m core list TASK`, `train TASK [options] [--json]`; the run store's commands (`runs`,
`show`, `export`, `report`) live in core/cli/runs.py and the headless what-if lab (`race`) in core/cli/race.py.

Exit status: 0 done; 2 a bad argument, file or run store (an `error: ...` line on stderr, never a traceback);
1 an export that failed or does not reproduce the model; 130 Ctrl-C. Ctrl-C during training ends that run as
'stopped' with its best weights saved, prints it like a finished run (the --json line too), then exits 130 so
scripts know the run was cut short.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from core.cli import calibrate as cli_calibrate
from core.cli import race as cli_race
from core.cli import runs as cli_runs
from core.cli import tune as cli_tune
from core.cli.common import (
    INTERRUPTED,
    ProgressBar,
    add_backend_flags,
    add_data_flags,
    add_runs_flag,
    metric_lines,
)
from core.exec.distributed import add_launch_flags, in_torchrun, launch_from_args
from core.models import list_models
from core.run.command import add_train_settings, train_options
from core.run.config import BATCH_RULE
from core.run.training import Diverged


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="DL Studio: train and compare models.")
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="bundled datasets and models of a task, with each model's defaults")
    lst.add_argument("task")
    lst.set_defaults(func=cmd_list)
    tr = sub.add_parser("train", help="train one model and store the run")
    tr.add_argument("task")
    add_data_flags(tr)
    add_train_settings(tr)
    add_runs_flag(tr)
    add_backend_flags(tr)
    add_launch_flags(tr)
    tr.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    tr.set_defaults(func=cmd_train)
    cli_runs.add_parsers(sub)
    cli_race.add_parser(sub)
    cli_tune.add_parser(sub)
    cli_calibrate.add_parser(sub)
    return parser


def cmd_list(args) -> int:
    from core.models import get_spec
    from core.tasks import get_task

    task = get_task(args.task)
    print(f"{task.spec.title} ({args.task})")
    print("datasets:")
    for d in task.spec.datasets:
        print(f"  {d.name:20s} {d.description}")
    print(f"models (default: {task.spec.default_model}):")
    for name in list_models(args.task):
        spec = get_spec(args.task, name)
        print(f"  {name:20s} {spec.description}")
        print(f"  {'':20s} {defaults_text(spec)}")
        if spec.defaults_from:
            print(f"  {'':20s} chosen: {spec.defaults_from}")
        if spec.pretrained is not None:
            print(f"  {'':20s} {pretrained_text(spec.pretrained)}")
    print(f"Fitted to the data: {BATCH_RULE}.")
    return 0


def defaults_text(spec) -> str:
    """A model's defaults in one line, as `core list` and the pages show them."""
    if spec.closed_form:
        return "fitted in closed form: no optimizer, learning rate, epochs or batch size"
    d = spec.defaults
    text = f"{d.get('epochs')} epochs, {d.get('optimizer', 'adam')} lr {d.get('lr'):g}, batch {d.get('batch_size')}"
    text += f", {d.get('schedule', 'constant')} schedule" + (f", patience {d['patience']}" if d.get("patience") else "")
    text += f", example budget {d['example_budget']:,}" if d.get("example_budget") else ""
    text += f", at least {d['min_steps']:,} steps" if d.get("min_steps") else ""
    if spec.augment:
        text += ", augment " + " ".join(f"{k}={v}" for k, v in spec.augment.items() if v)
    return text


def cmd_train(args) -> int:
    from core.data.roots import check_file
    from core.eval.baseline import baseline_lines
    from core.models import get_spec
    from core.run.config import make_config
    from core.run.experiment import run_experiment
    from core.run.store import RunStore

    config = make_config(args.task, args.model, dataset=args.dataset, data=args.data, **train_options(args))
    if config.weights_path:
        check_file(config.weights_path, "a weights file (.pt or .pth)")
    if config.pretrained:
        fetch_weights(get_spec(config.task, config.model).pretrained)
    store = RunStore(args.runs)
    if args.backend == "ray":
        from core.exec.jobs import run_remote

        result = run_remote(config, store, "ray", args.ray_address, callbacks=[ProgressBar(config.epochs)])
    else:
        result = run_experiment(config, store, callbacks=[ProgressBar(config.epochs)], launch=launch_from_args(args))
    if in_torchrun() and int(os.environ["RANK"]) != 0:
        return 0  # under `torchrun -m core train`, rank 0 reports the run
    if args.json:
        print(json.dumps(result_json(result, args.backend, result.details.get("world_size", 1))))
    else:
        print(f"run {result.run_id}: {result.status} in {result.seconds:.1f}s")
        if result.status == "stopped":
            print(f"  {result.stop_reason}: the model as it stood is saved in {store.run_dir(result.run_id)}")
        if result.details.get("settings_note"):
            print(f"  note: {result.details['settings_note']}")
        print("\n".join(metric_lines(config.task, result.metrics, result.details.get("ci95"))))
        run = {"task": config.task, "model": config.model, "metrics": result.metrics, "details": result.details}
        for line in baseline_lines(run):
            print(line)
    return INTERRUPTED if result.status == "stopped" else 0


def fetch_weights(pretrained) -> None:
    """Pretrained weights into the torch hub cache before training, with a bar while they download."""
    from tqdm import tqdm

    from core.models.pretrained import cache_file, fetch, is_cached

    if is_cached(pretrained):
        return
    print(f"downloading {pretrained.label} weights to {cache_file(pretrained)}", file=sys.stderr)
    with tqdm(unit="B", unit_scale=True, desc=cache_file(pretrained).name, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        fetch(pretrained, progress)


def pretrained_text(pretrained) -> str:
    """A model's published weights in one line, as `core list` shows them."""
    from core.models.pretrained import facts

    f = facts(pretrained)
    said = f"--pretrained {pretrained.source}: {f['weights']}"
    if f.get("top1"):
        said += f", ImageNet top-1 {f['top1']:.1f}%"
    size = f" ({f['size_mb']:.1f} MB)" if f.get("size_mb") else ""
    where = "in the cache" if Path(f["cache_path"]).is_file() else "downloaded on first use to"
    return f"{said}; {f['file']}{size} {where} {f['cache_path']}"


def result_json(result, backend: str, world_size: int = 1) -> dict[str, Any]:
    """The one JSON object a training prints last with --json (DESIGN.md's contract)."""
    config = result.config
    return {
        "run_id": result.run_id,
        "task": config.task,
        "dataset": config.dataset or config.data,
        "model": config.model,
        "status": result.status,
        "seconds": result.seconds,
        "metrics": result.metrics,
        "ci95": result.details.get("ci95", {}),
        "world_size": world_size,
        "backend": backend,
        "settings_note": result.details.get("settings_note"),
        "baseline": result.details.get(
            "baseline"
        ),  # the task's classical baseline on the same split (core.eval.baseline)
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env_before = os.environ.get("DLSTUDIO_DB_URL")
    if getattr(args, "db_url", None):  # through the environment: workers, torchrun ranks and Ray tasks inherit it
        os.environ["DLSTUDIO_DB_URL"] = args.db_url
    try:
        return args.func(args)
    except KeyboardInterrupt:  # outside training (loading data, saving): the run, if any, is marked failed
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except Diverged as exc:
        print(f"error: the run diverged: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # past the pre-checks (an estimate is an estimate): the failed allocation and the limit
        from core.exec.memory import out_of_memory

        print(f"error: {out_of_memory(exc)}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:  # DataError, RunStoreError, a bad setting, a missing or unwritable file
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if env_before is None:
            os.environ.pop("DLSTUDIO_DB_URL", None)
        else:
            os.environ["DLSTUDIO_DB_URL"] = env_before

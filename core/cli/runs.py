"""Command line for the run store: `runs`, `show RUN`, `export RUN`, `report RUN` (registered by core/cli.py)."""

from __future__ import annotations

import difflib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from core.cli.common import add_runs_flag, metric_lines, text_table
from core.run.command import command_for
from core.run.store import RunStore, RunStoreError, database_url
from core.tasks import run_headline
from core.views.runs import setting_text

EXPORT_FORMATS = ("onnx", "torchscript")  # core.run.export.FORMATS, named here so the parser loads no exporter


def add_parsers(sub) -> None:
    """Register `runs`, `show`, `export` and `report` on the subcommands of core/cli.py's parser."""
    runs = sub.add_parser("runs", help="the run store's runs, newest first, with each run's status")
    runs.add_argument("--task", help="only this task's runs")
    runs.add_argument("--json", action="store_true", help="print the runs as one JSON list")
    add_runs_flag(runs)
    runs.set_defaults(func=cmd_runs)

    show = sub.add_parser("show", help="one run: status, metrics, details, settings and the line that reproduces it")
    show.add_argument("run", help="a run id, as `runs` lists them")
    show.add_argument("--json", action="store_true", help="print the run as one JSON object")
    add_runs_flag(show)
    show.set_defaults(func=cmd_show)

    export = sub.add_parser("export", help="export a run's model, checked against PyTorch on its test inputs")
    export.add_argument("run", help="a run id, as `runs` lists them")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("-o", "--output", help="copy the file here too (it is always written in the run's folder)")
    add_runs_flag(export)
    export.set_defaults(func=cmd_export)

    report = sub.add_parser("report", help="a self-contained HTML report of a run, readable offline")
    report.add_argument("run", help="a run id, as `runs` lists them")
    report.add_argument("-o", "--output", required=True, help="the HTML file to write")
    add_runs_flag(report)
    report.set_defaults(func=cmd_report)


def existing_store(root: str) -> RunStore | None:
    """The run store at `root` (its database at --db-url / $DLSTUDIO_DB_URL where one is named), or None where
    there is none yet: reading never creates one."""
    path = Path(root)
    if database_url() is None and (not path.exists() or path.is_dir() and not (path / "runs.db").exists()):
        return None
    try:
        return RunStore(path)  # a file here, a corrupt runs.db: RunStoreError naming it
    except RunStoreError as exc:
        try:  # a store we may not write (read-only media, someone else's): read it as it is
            return RunStore(path, read_only=True)
        except RunStoreError:
            raise exc from None


def find_run(root: str, run_id: str) -> tuple[RunStore, dict[str, Any]]:
    """The store and the stored run `run_id`, or ValueError 'no run RUN in runs/' (with the closest ids)."""
    store = existing_store(root)
    run = store.get(run_id) if store else None
    if run is None:
        where = f"{root.rstrip('/')}/"
        close = difflib.get_close_matches(run_id, [r["id"] for r in store.list()] if store else [], n=3, cutoff=0.8)
        raise ValueError(f"no run {run_id} in {where}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return store, run


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "–"


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    """What `runs --json` prints of a run (`show --json` prints all of it)."""
    keys = ("id", "task", "dataset", "model", "status", "created", "finished", "seconds", "metrics", "error")
    return {k: run.get(k) for k in keys}


def cmd_runs(args) -> int:
    if args.task:
        from core.tasks import get_task

        get_task(args.task)  # an unknown task: ValueError naming the tasks
    store = existing_store(args.runs)
    runs = store.list(task=args.task) if store else []
    if args.json:
        print(json.dumps([run_summary(r) for r in runs]))
        return 0
    if not runs:
        print(f"no {args.task + ' ' if args.task else ''}runs in {args.runs.rstrip('/')}/")
        return 0
    rows = [
        [
            r["id"],
            r["status"],
            r["task"],
            r["model"] or "",
            Path(r["dataset"] or "").name,
            run_headline(r),
            f"{r['seconds']:.1f} s" if r.get("seconds") else "",
            _when(r["created"]),
        ]
        for r in runs
    ]
    print(text_table(["run", "status", "task", "model", "data", "result", "training", "started"], rows))
    return 0


def cmd_show(args) -> int:
    from core.eval.baseline import baseline_lines  # scipy's statistics: only for the command that prints them

    store, run = find_run(args.runs, args.run)
    config, details = run["config"], run.get("details") or {}
    try:
        command = command_for(config)
    except (KeyError, ValueError) as exc:  # a model or setting this version no longer has
        command = f"# cannot be rebuilt by this version: {exc}"
    if args.json:
        print(json.dumps({**run, "config": config.to_dict(), "command": command}))
        return 0
    print(f"run {run['id']}")
    seconds = f" · trained {run['seconds']:.1f} s" if run.get("seconds") else ""
    dataset = run.get("dataset") or "?"
    print(f"  {run['task']} · {run['model']} on {dataset} · {run['status']} · started {_when(run['created'])}{seconds}")
    if run.get("error"):
        print(f"  error: {run['error']}")
    if run.get("metrics"):
        size = f" ({details['test_size']:,} examples)" if details.get("test_size") else ""
        print(f"test metrics{size}:")
        print("\n".join(metric_lines(run["task"], run["metrics"], details.get("ci95"))))
        for line in baseline_lines(run):
            print(line)
    notes = _detail_notes(details)
    if notes:
        print("details:")
        print("\n".join(f"  {n}" for n in notes))
    print("settings:")
    print("\n".join(f"  {k:16s} {setting_text(v)}" for k, v in config.to_dict().items()))
    print("reproduce:")
    print(f"  {command}")
    return 0


def _detail_notes(details: dict[str, Any]) -> list[str]:
    """The details worth a line: how the data was split, why training stopped, settings the data changed."""
    notes = []
    if details.get("split_note"):
        notes.append(f"split: {details['split_note']}")
    if details.get("closed_form"):
        notes.append("fitted in closed form: optimizer, learning rate, epochs and batch size played no part")
    elif details.get("epochs_run"):
        best = f" (best epoch {details['best_epoch']})" if details.get("best_epoch") else ""
        notes.append(f"epochs run: {details['epochs_run']}{best}")
    if details.get("stop_reason"):
        notes.append(f"stopped: {details['stop_reason']}")
    if details.get("settings_note"):
        notes.append(f"settings: {details['settings_note']}")
    if details.get("lr_search"):
        from core.run.lr_search import search_note

        notes.append(f"learning rate: {search_note(details['lr_search'])}")
    return notes


def cmd_export(args) -> int:
    from core.run.export import ATOL, RTOL, export_run

    store, run = find_run(args.runs, args.run)
    check = export_run(store, run["id"], formats=(args.format,))[0]
    path = Path(check.path)
    if not path.exists():
        print(f"error: could not export run {run['id']} to {args.format}: {check.error}", file=sys.stderr)
        return 1
    if args.output:
        path = Path(shutil.copyfile(path, args.output))
    print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB)")
    if check.ok:
        same = ", the same predictions" if check.same_predictions else ""
        batch = ", any batch size" if check.dynamic_batch else ""
        print(
            f"check: ok: it reproduces the trained model on {check.examples} test inputs "
            f"(max |difference| {check.max_abs_diff:.2g}, tolerance {ATOL:g} + {RTOL:g}·|value|{same}{batch})"
        )
        return 0
    reason = check.error or (
        f"max |difference| {check.max_abs_diff:.2g} over {check.examples} test inputs is above the tolerance"
        + (", and the predicted classes differ" if check.same_predictions is False else "")
    )
    print(f"check: FAILED: {reason}")
    return 1


def cmd_report(args) -> int:
    from core.views.report import run_report

    store, run = find_run(args.runs, args.run)
    out = Path(args.output)
    out.write_text(run_report(run, store.history(run["id"])), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0

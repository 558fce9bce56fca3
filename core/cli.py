"""Command line: `python -m core list TASK` and `python -m core train TASK [options] [--json]`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from core.data import DataError
from core.models import describe_model, list_models
from core.training import OPTIMIZERS, Callback


class ProgressBar(Callback):
    """A tqdm bar on stderr: one tick per batch, the epoch's numbers in the postfix."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.bar = epochs, None

    def on_fit_start(self, trainer):
        from tqdm import tqdm

        self.bar = tqdm(total=self.epochs, unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def on_epoch_end(self, trainer, logs):
        shown = {k: f"{v:.4f}" for k, v in logs.items() if k.endswith(("loss", "accuracy", "rmse", "ndcg@10"))}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_fit_end(self, trainer, status):
        if self.bar is not None:
            self.bar.close()


def _key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="DL Studio: train and compare models.")
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="bundled datasets and models of a task")
    lst.add_argument("task")
    tr = sub.add_parser("train", help="train one model and store the run")
    tr.add_argument("task")
    src = tr.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="a bundled dataset")
    src.add_argument("--data", help="your own folder, .zip or CSV")
    tr.add_argument("--model", required=True)
    tr.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--batch-size", type=int, default=64)
    tr.add_argument("--weight-decay", type=float, default=0.0)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--schedule", choices=("constant", "cosine"), default="constant", help="learning-rate schedule")
    tr.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    tr.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    tr.add_argument("--patience", type=int, help="early stopping: epochs without validation improvement")
    tr.add_argument("--max-batches", type=int, help="smoke setting: at most N batches per epoch")
    tr.add_argument("--augment", nargs="*", metavar="KEY=VALUE", help="e.g. shift=0.1 rotate=10 flip=true")
    tr.add_argument("--option", nargs="*", metavar="KEY=VALUE", help="model options, e.g. width=64 batch_norm=true")
    tr.add_argument("--weights", help="local weights file to start from (transfer learning)")
    tr.add_argument("--freeze-backbone", action="store_true", help="train only the new head")
    tr.add_argument("--init-from", metavar="RUN_ID", help="fine-tune from one of our own saved runs")
    tr.add_argument("--runs", default="runs", help="run store folder (default ./runs)")
    tr.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    return parser


# config key -> the train option's dest where the names differ; ALWAYS_SHOWN appear even at their defaults
_CONFIG_DESTS = {"weights_path": "weights", "model_options": "option"}
_ALWAYS_SHOWN = ("dataset", "data", "model", "optimizer", "lr", "epochs", "batch_size", "seed")


def command_for(config: dict[str, Any]) -> str:
    """The `python -m core train ...` line that reproduces a run's config.

    Settings the command line cannot take (and that differ from their defaults) are listed in a
    trailing shell comment rather than dropped silently.
    """
    from core.experiment import make_config

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = {a.dest: a for a in sub.choices["train"]._actions if a.option_strings}
    defaults = make_config(config["task"], config["model"], dataset=config.get("dataset"), data=config.get("data"))
    words, left_out = ["python", "-m", "core", "train", config["task"]], []
    for key, value in config.items():
        action = actions.get(_CONFIG_DESTS.get(key, key))
        if key == "task" or (action is None and value == defaults.get(key)):
            continue
        if action is None:
            left_out.append(f"{key}={json.dumps(value)}")
        elif action.nargs == "*":  # --augment / --option KEY=VALUE ...
            items = dict(value or {})
            if key == "model_options" and items.pop("freeze_backbone", False):
                words.append("--freeze-backbone")
            if items:
                words += [action.option_strings[0], *(f"{k}={_json_word(v)}" for k, v in items.items())]
        elif isinstance(action, argparse._StoreTrueAction):
            words += [action.option_strings[0]] if value else []
        elif value is not None and (key in _ALWAYS_SHOWN or value != action.default):
            words += [action.option_strings[0], str(value)]
    line = " ".join(shlex.quote(w) for w in words)
    return line + (f"  # not settable from the command line: {' '.join(left_out)}" if left_out else "")


def _json_word(value: Any) -> str:
    """A KEY=VALUE value that `_key_values` reads back as the same Python value."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value  # a plain string stays plain
    return json.dumps(value)


def cmd_list(args) -> int:
    from core.tasks import get_task

    task = get_task(args.task)
    print(f"datasets ({args.task}):")
    for name in task.list_datasets():
        print(f"  {name}")
    print(f"models ({args.task}):")
    for name in list_models(args.task):
        print(f"  {name:20s} {describe_model(args.task, name)}")
    return 0


def cmd_train(args) -> int:
    from core.experiment import make_config, run_experiment
    from core.runs import RunStore

    options = _key_values(args.option, "--option")
    if args.freeze_backbone:
        options["freeze_backbone"] = True
    config = make_config(
        args.task,
        args.model,
        dataset=args.dataset,
        data=args.data,
        optimizer=args.optimizer,
        lr=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        weight_decay=args.weight_decay,
        seed=args.seed,
        schedule=args.schedule,
        device=args.device,
        amp=args.amp,
        patience=args.patience,
        max_batches=args.max_batches,
        augment=_key_values(args.augment, "--augment"),
        model_options=options,
        weights_path=args.weights,
        init_from=args.init_from,
    )
    if args.model not in list_models(args.task):
        raise ValueError(f"unknown {args.task} model {args.model!r}; choose one of {', '.join(list_models(args.task))}")
    result = run_experiment(config, RunStore(args.runs), callbacks=[ProgressBar(config["epochs"])])
    shown = result.metrics
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "task": args.task,
                    "dataset": config["dataset"] or config["data"],
                    "model": args.model,
                    "status": result.status,
                    "seconds": result.seconds,
                    "metrics": shown,
                }
            )
        )
    else:
        print(f"run {result.run_id}: {result.status} in {result.seconds:.1f}s")
        for k, v in shown.items():
            print(f"  {k:16s} {v:.4f}" if isinstance(v, float) else f"  {k:16s} {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return cmd_list(args) if args.command == "list" else cmd_train(args)
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

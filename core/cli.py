"""Command line: `python -m core list TASK`, `train TASK [options] [--json]`; the run store's commands (`runs`,
`show`, `export`, `report`) live in core/cli_runs.py and the headless what-if lab (`race`) in core/cli_race.py.

Exit status: 0 done; 2 a bad argument, file or run store (an `error: ...` line on stderr, never a traceback);
1 an export that failed or does not reproduce the model; 130 Ctrl-C. Ctrl-C during training ends that run as
'stopped' with its best weights saved, prints it like a finished run (the --json line too), then exits 130 so
scripts know the run was cut short.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from core.config import BATCH_RULE, OFF_AT_ZERO, RUN_OPTIONS
from core.distributed import add_launch_flags, in_torchrun, launch_from_args
from core.models import list_models
from core.training import Callback, Diverged

INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class ProgressBar(Callback):
    """A tqdm bar on stderr: one tick per batch, the epoch's numbers in the postfix."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.bar, self.loading, self.embedding = epochs, None, None, None

    def on_data_progress(self, done, total):
        """A second bar while a large folder decodes (headers, then images)."""
        from tqdm import tqdm

        if self.loading is None and done < total:
            self.loading = tqdm(total=total, desc="reading data", unit="step", file=sys.stderr, dynamic_ncols=True)
        if self.loading is not None:
            self.loading.update(done - self.loading.n)
            if done >= total:
                self.loading.close()

    def on_embed_progress(self, done, total):
        """A bar while a frozen backbone embeds the data (once: core.embeddings caches it)."""
        from tqdm import tqdm

        if self.embedding is None and done < total:
            self.embedding = tqdm(total=total, desc="embedding", unit="input", file=sys.stderr, dynamic_ncols=True)
        if self.embedding is not None:
            self.embedding.update(done - self.embedding.n)
            if done >= total:
                self.embedding.close()
                self.embedding = None

    def on_fit_start(self, trainer):
        from tqdm import tqdm

        if trainer is not None:  # a run elsewhere (Ray) starts with no trainer here: the asked epochs
            self.epochs = trainer.config.epochs  # after the fit-to-data rule: what really trains
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


def _flag_help(name: str) -> str:
    """A train flag's help from its RunConfig field: label and range; not given = the model's spec."""
    option = RUN_OPTIONS[name]
    return f"{option.label} ({option.range_text()}; default: the model's spec)"


def add_train_settings(parser: argparse.ArgumentParser) -> None:
    """The run settings as flags, every default None ("not given": the model's spec decides)."""
    parser.add_argument("--model", help="a model of the task (default: the task's)")
    for name in ("optimizer", "schedule", "device", "group_by", "protocol"):
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, choices=RUN_OPTIONS[name].choices, help=_flag_help(name))
    for name, kind in (("lr", float), ("epochs", int), ("batch_size", int), ("weight_decay", float)):
        parser.add_argument("--" + name.replace("_", "-"), type=kind, help=_flag_help(name))
    parser.add_argument("--seed", type=int, help=_flag_help("seed"))
    parser.add_argument("--split-seed", type=int, help=_flag_help("split_seed"))
    parser.add_argument("--patience", type=int, help="early stopping: epochs without validation improvement; 0 = off")
    parser.add_argument("--max-batches", type=int, help="smoke setting: at most N batches per epoch")
    parser.add_argument(
        "--nproc-per-node",
        type=int,
        metavar="N",
        help=f"train in N processes under torchrun (DDP: gloo on the CPU, NCCL on CUDA); "
        f"{RUN_OPTIONS['nproc_per_node'].range_text()}, default 1",
    )
    parser.add_argument("--amp", action="store_true", default=None, help="mixed precision (CUDA only)")
    parser.add_argument(
        "--no-fit-batch", dest="fit_batch", action="store_false", default=None, help=f"turn off the rule: {BATCH_RULE}"
    )
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        default=None,
        help=f"do not {RUN_OPTIONS['baseline'].help}",
    )
    budget_help = f"{RUN_OPTIONS['example_budget'].help} (default: the model's spec)"
    parser.add_argument("--example-budget", type=int, metavar="N", help=budget_help)
    floor_help = f"{RUN_OPTIONS['min_steps'].help} (default: the model's spec)"
    parser.add_argument("--min-steps", type=int, metavar="N", help=floor_help)
    parser.add_argument("--augment", nargs="*", metavar="KEY=VALUE", help="e.g. shift=0.1 rotate=10 flip=true")
    parser.add_argument("--option", nargs="*", metavar="KEY=VALUE", help="model options, e.g. width=64")
    parser.add_argument("--weights", help="local weights file to start from (transfer learning)")
    parser.add_argument(
        "--pretrained",
        metavar="SOURCE",
        help="start from the weights the model's spec publishes (imagenet: torchvision's, fetched once into the "
        "torch hub cache under TORCH_HOME; see `list`)",
    )
    parser.add_argument("--freeze-backbone", action="store_true", help="train only the new head")
    parser.add_argument("--init-from", metavar="RUN_ID", help="fine-tune from one of our own saved runs")


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
    from core import cli_calibrate, cli_race, cli_runs, cli_tune  # imported here: they use this module's helpers

    cli_runs.add_parsers(sub)
    cli_race.add_parser(sub)
    cli_tune.add_parser(sub)
    cli_calibrate.add_parser(sub)
    return parser


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="a bundled dataset")
    src.add_argument("--data", help="your own folder, .zip or CSV")


def add_runs_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default="runs", help="run store folder (default ./runs)")
    parser.add_argument(
        "--db-url",
        help="the run store's database: sqlite:///PATH or postgresql://USER@HOST/DB for a team's shared store "
        "(default: $DLSTUDIO_DB_URL, else runs.db in --runs); every process this command starts uses it too",
    )


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    """Where the training runs: here, or as Ray tasks (core/ray_jobs.py); results land in --runs either way."""
    parser.add_argument("--backend", choices=("local", "ray"), default="local", help="where it trains (default local)")
    parser.add_argument(
        "--ray-address",
        help="with --backend ray: auto, HOST:PORT or local (default: $DLSTUDIO_RAY_ADDRESS, else a local Ray)",
    )


def metric_lines(task: str, metrics: dict[str, Any], ci95: dict[str, Any] | None = None) -> list[str]:
    """Each metric as '  label  value  (95% CI low – high)', the task's headline metrics first."""
    from core.metric_info import format_interval, format_metric
    from core.tasks import get_task

    try:
        spec = get_task(task).spec
        headline, label = spec.headline, spec.label
    except ValueError:  # a run of a task this version no longer has
        headline, label = (), lambda name: name
    lines = []
    for name in [m for m in headline if m in metrics] + [m for m in metrics if m not in headline]:
        value = metrics[name]
        text = format_metric(name, value) if isinstance(value, int | float) else str(value)
        interval = format_interval(name, (ci95 or {}).get(name), sep=" – ")
        if interval:
            text += f"  ({interval})"
        lines.append(f"  {label(name):24s} {text}")
    return lines


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Rows under a header in columns as wide as their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


# config key -> the train option's dest where the names differ; ALWAYS_SHOWN appear even at their defaults
_CONFIG_DESTS = {"weights_path": "weights", "model_options": "option"}
_ALWAYS_SHOWN = ("dataset", "data", "model", "seed")


def command_for(config: dict[str, Any]) -> str:
    """The `python -m core train ...` line that reproduces a run's config: only what differs from the spec.

    Settings the command line cannot take (and that differ from their defaults) are listed in a
    trailing shell comment rather than dropped silently.
    """
    from core.config import make_config

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = {a.dest: a for a in sub.choices["train"]._actions if a.option_strings}
    defaults = make_config(config["task"], config["model"], dataset=config.get("dataset"), data=config.get("data"))
    words, left_out = ["python", "-m", "core", "train", config["task"]], []
    first = ("model", "dataset", "data")
    for key in sorted(config, key=lambda k: first.index(k) if k in first else len(first)):
        value, action = config[key], actions.get(_CONFIG_DESTS.get(key, key))
        default = defaults.get(key)
        if key == "task" or (value == default and key not in _ALWAYS_SHOWN) or value is None and default is None:
            continue
        if action is None:
            left_out.append(f"{key}={json.dumps(value)}")
        elif action.nargs == "*":  # --augment / --option KEY=VALUE ...
            items = {k: v for k, v in (value or {}).items() if v != (default or {}).get(k)}
            if key == "model_options" and items.pop("freeze_backbone", False):
                words.append("--freeze-backbone")
            if items:
                words += [action.option_strings[0], *(f"{k}={_json_word(v)}" for k, v in items.items())]
        elif isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            words += [action.option_strings[0]] if value != default else []
        else:
            off = key in OFF_AT_ZERO and value is None  # 0 = off, as the flag reads it
            words += [action.option_strings[0], "0" if off else str(value)]
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


def train_options(args) -> dict[str, Any]:
    """The train flags as make_config's keyword arguments (None: not given)."""
    options = _key_values(args.option, "--option")
    if args.freeze_backbone:
        options["freeze_backbone"] = True
    names = ("optimizer", "lr", "epochs", "batch_size", "weight_decay", "seed", "split_seed", "schedule", "device")
    given = {name: getattr(args, name) for name in names}
    given.update(
        amp=args.amp,
        patience=args.patience,
        max_batches=args.max_batches,
        nproc_per_node=args.nproc_per_node,
        fit_batch=args.fit_batch,
        baseline=args.baseline,
        example_budget=args.example_budget,
        min_steps=args.min_steps,
        group_by=args.group_by,
        protocol=args.protocol,
        augment=_key_values(args.augment, "--augment") or None,
        model_options=options,
        weights_path=args.weights,
        pretrained=args.pretrained,
        init_from=args.init_from,
    )
    return given


def cmd_train(args) -> int:
    from core.baseline import baseline_lines
    from core.config import make_config
    from core.data.roots import check_file
    from core.experiment import run_experiment
    from core.models import get_spec
    from core.runs import RunStore

    config = make_config(args.task, args.model, dataset=args.dataset, data=args.data, **train_options(args))
    if config.get("weights_path"):
        check_file(config["weights_path"], "a weights file (.pt or .pth)")
    if config.get("pretrained"):
        fetch_weights(get_spec(config["task"], config["model"]).pretrained)
    store = RunStore(args.runs)
    if args.backend == "ray":
        from core.jobs import run_remote

        result = run_remote(config, store, "ray", args.ray_address, callbacks=[ProgressBar(config["epochs"])])
    else:
        result = run_experiment(config, store, callbacks=[ProgressBar(config["epochs"])], launch=launch_from_args(args))
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
        print("\n".join(metric_lines(config["task"], result.metrics, result.details.get("ci95"))))
        run = {"task": config["task"], "model": config["model"], "metrics": result.metrics, "details": result.details}
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
        "task": config["task"],
        "dataset": config["dataset"] or config["data"],
        "model": config["model"],
        "status": result.status,
        "seconds": result.seconds,
        "metrics": result.metrics,
        "ci95": result.details.get("ci95", {}),
        "world_size": world_size,
        "backend": backend,
        "settings_note": result.details.get("settings_note"),
        "baseline": result.details.get("baseline"),  # the task's classical baseline on the same split (core.baseline)
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
        from core.memory import out_of_memory

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

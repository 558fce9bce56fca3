"""What the subcommands of `python -m core` share: the data, run-store and backend flags, the progress bar,
metric lines and text tables. Each subcommand's module imports this one, and core/cli.py imports them all."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.run.training import Callback

INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def _advance(bar, done: int, total: int, desc: str, unit: str):
    """A side bar on stderr moved to `done` of `total`: opened on the first step, closed (None) at the end."""
    from tqdm import tqdm

    if bar is None and done < total:
        bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)
    if bar is not None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            return None
    return bar


class ProgressBar(Callback):
    """A tqdm bar on stderr: one tick per batch, the epoch's numbers in the postfix."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.bar, self.loading, self.embedding = epochs, None, None, None

    def on_data_progress(self, done, total):
        """A second bar while a large folder decodes (headers, then images)."""
        self.loading = _advance(self.loading, done, total, "reading data", "step")

    def on_embed_progress(self, done, total):
        """A bar while a frozen backbone embeds the data (once: core.models.embeddings caches it)."""
        self.embedding = _advance(self.embedding, done, total, "embedding", "input")

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
    """Where the training runs: here, or as Ray tasks (core/exec/ray_jobs.py); results land in --runs either way."""
    parser.add_argument("--backend", choices=("local", "ray"), default="local", help="where it trains (default local)")
    parser.add_argument(
        "--ray-address",
        help="with --backend ray: auto, HOST:PORT or local (default: $DLSTUDIO_RAY_ADDRESS, else a local Ray)",
    )


def metric_lines(task: str, metrics: dict[str, Any], ci95: dict[str, Any] | None = None) -> list[str]:
    """Each metric as '  label  value  (95% CI low – high)', the task's headline metrics first."""
    from core.eval.metric_info import format_interval, format_metric
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

"""Speech benchmark on `commands`: every model over several seeds beside the logistic-regression baseline.

Run by hand: `.venv/bin/python benchmarks/speech_models.py [--seeds 3] [--models dscnn,kwt]`.
Prints a markdown table. One stratified 70/10/20 split (split seed 0) for all; the seeds change the initial
weights, batch order and augmentation. Settings: the page's defaults (core.tasks.speech.DEFAULTS and
AUGMENT_DEFAULTS; logreg gets no augmentation). Latency: median forward pass of one 1-s clip, features included.
On a CPU other processes are busy with, use `--threads 1`: with two intra-op threads, each of the GRU's and the
transformer's many small steps waits for a descheduled thread, and training crawls (crnn_attention: 31 s with one
thread against 250 s with two, on the same busy machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import make_config
from core.experiment import run_experiment  # noqa: E402
from core.models import list_models  # noqa: E402
from core.tasks.speech import AUGMENT_DEFAULTS, DEFAULTS  # noqa: E402

TARGET = "best model test accuracy >= 0.97 in <= 60 s training on 2 CPU cores"


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.pstdev(values):.4f}"


def benchmark(name: str, seeds: int) -> dict:
    accs, f1s, secs, latency, params = [], [], [], [], 0
    opts = DEFAULTS.get(name, {})
    augment = {} if name == "logreg" else AUGMENT_DEFAULTS
    for seed in range(seeds):
        # the split stays fixed (split seed 0); `seed` changes the initial weights, batch order and augmentation
        config = make_config(
            "speech", name, dataset="commands", device="cpu", split_seed=0, augment=augment, **{**opts, "seed": seed}
        )
        result = run_experiment(config)
        accs.append(result.metrics["accuracy"])
        f1s.append(result.metrics["macro_f1"])
        secs.append(result.metrics["train_seconds"])
        latency.append(result.metrics["latency_ms"])
        params = result.metrics["parameters"]
        print(f"  {name} seed {seed}: {accs[-1]:.4f} in {secs[-1]:.1f} s", file=sys.stderr, flush=True)
    return {
        "model": name,
        "accuracy": mean_std(accs),
        "macro_f1": statistics.mean(f1s),
        "seconds": statistics.mean(secs),
        "epochs": opts.get("epochs", "-"),
        "parameters": params,
        "latency": statistics.median(latency),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", default=",".join(list_models("speech")))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; commands, one stratified 70/10/20 split")
    print(f"target: {TARGET}\n")
    print(
        "| model | test accuracy (mean ± std) | macro-F1 (mean) | train seconds (mean) | epochs | parameters "
        "| latency per 1 s clip (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        row = benchmark(name, args.seeds)
        print(
            f"| {row['model']}{' (baseline)' if name == 'logreg' else ''} | {row['accuracy']} | {row['macro_f1']:.4f} "
            f"| {row['seconds']:.2f} | {row['epochs']} | {row['parameters']:,} | {row['latency']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

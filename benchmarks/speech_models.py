"""Speech benchmark on `commands`: every model, the MFCC baselines included, over split seeds and initial seeds.

Run by hand: `.venv/bin/python benchmarks/speech_models.py [--split-seeds 3] [--seeds 2] [--models dscnn,kwt]
[--threads 1]`. Prints a markdown table. Settings: each model's spec defaults (`make_config("speech", model)`
with nothing else given: what the page trains). Every split seed makes another split by speaker (70/10/20, no
voice in two parts: the test voices are never heard in training); every initial seed changes the weights, batch
order and augmentation. The baselines get the same care: `logreg` and `svm` standardise the pooled MFCC
statistics, and `svm` picks its C and gamma on the validation split (core/models/svm.py). Latency: median forward
pass of one 1-s clip, features included. The interval is the 95% interval (Wilson) of the first run.

On a CPU other processes are busy with, use `--threads 1`: with two intra-op threads, each of the GRU's and the
transformer's many small steps waits for a descheduled thread, and training crawls (crnn_attention: 31 s with one
thread against 250 s with two, on the same busy machine).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.over_seeds import run_over_seeds
from core.models import get_spec, list_models

TARGET = "best model test accuracy >= 0.97 in <= 60 s training on 2 CPU cores"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2, help="initial seeds per split")
    parser.add_argument("--split-seeds", type=int, default=3, help="speaker-grouped splits (split seeds 0..N-1)")
    # the pretrained encoders (95 M parameters) are no from-scratch benchmark: docs/pretrained.md times their heads
    scratch = [m for m in list_models("speech") if get_spec("speech", m).pretrained is None]
    parser.add_argument("--models", default=",".join(scratch))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); commands, {args.split_seeds} splits by "
        f"speaker x {args.seeds} initial seeds; settings: each model's spec defaults\ntarget: {TARGET}\n"
    )
    print(
        "| model | test accuracy: mean ± std (spread between splits, between seeds) | 95% interval, one run "
        "| macro-F1 (mean) | train seconds (mean) | epochs | parameters | latency per 1 s clip (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        data = {"dataset": "commands", "device": "cpu"}
        runs = run_over_seeds("speech", name, "accuracy", args.split_seeds, args.seeds, **data)
        first = runs.first
        baseline = " (baseline)" if get_spec("speech", name).closed_form else ""
        epochs = "-" if first.details.get("closed_form") else first.config.epochs
        print(
            f"| {name}{baseline} | {runs.summary()} | {runs.interval()} | {runs.mean('macro_f1'):.4f} "
            f"| {runs.mean('train_seconds'):.2f} | {epochs} | {first.metrics['parameters']:,} "
            f"| {first.metrics['latency_ms']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Recommendation benchmark: every model's test metrics and training seconds on `movies` and on MovieLens files,
over split seeds and initial seeds, with a plain BPR-MF written in benchmarks/bpr_reference.py beside `bpr`.

Run by hand:
`.venv/bin/python benchmarks/recsys_models.py [--split-seeds 3] [--seeds 1] [--data path/to/u.data ...]
[--models mf,ease] [--threads 1]`.
`--data` takes any interactions file the app loads (MovieLens u.data, ratings.dat, ratings.csv) or a folder of
them. Prints one markdown table per dataset. Protocol: each user's interactions split 80/10/10 at random (split
seeds 0..N-1), top-10 over full ranking of the items the user has not rated in training or validation,
RMSE/MAE on the same test ratings. Settings: each model's spec defaults (`make_config("recsys", model)` with
nothing else given but the protocol: random for every row, sasrec included, whose own default is time).
Intervals: the 95% bootstrap interval of the first run (split 0, seed 0), over test users (NDCG@10 and RMSE).
Times: `train s` is wall-clock training time; `CPU s (run)` is the CPU time of the whole run (loading, training,
evaluation), the steadier number on a machine whose cores are shared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from benchmarks.bpr_reference import test_ndcg, train_plain_bpr
from benchmarks.over_seeds import Repeated, run_over_seeds, sample_std
from core.models import list_models
from core.tasks.recsys import load_bundled, load_interactions

COLUMNS = ["precision@10", "recall@10", "hit@10", "map@10", "coverage@10"]
TARGETS = (
    "mf RMSE <= 0.92 in <= 30 s; best top-10 model NDCG@10 >= 0.28 and recall@10 >= 0.24 in <= 30 s; "
    "bpr at least the plain BPR-MF's NDCG@10 in no more time"
)
REFERENCE = "plain BPR-MF (reference)"


def reference_rows(source: dict, split_seeds: int, seeds: int) -> dict:
    """The plain BPR-MF of bpr_reference.py on the same splits: NDCG@10 and recall@10 per run, seconds."""
    out: dict = {"ndcg@10": [], "recall@10": [], "train_seconds": [], "cpu": [], "interval": None}
    for split in range(split_seeds):
        data = load_interactions(source["data"], split) if "data" in source else load_bundled("movies", split)
        out["ndcg@10"].append([])
        for seed in range(seeds):
            cpu, start = time.process_time(), time.perf_counter()
            model = train_plain_bpr(data, seed)
            out["train_seconds"].append(time.perf_counter() - start)
            ndcg, interval, recall = test_ndcg(model, data)
            out["cpu"].append(time.process_time() - cpu)
            out["ndcg@10"][-1].append(ndcg)
            out["recall@10"].append(recall)
            out["interval"] = out["interval"] or interval
            print(f"  reference split {split} seed {seed}: ndcg@10 {ndcg:.4f}", file=sys.stderr, flush=True)
    return out


def print_table(title: str, runs: list[Repeated], reference: dict | None) -> None:
    print(f"\n### {title}\n")
    print(
        "| model | NDCG@10: mean ± std (spread between splits, between seeds) | 95% interval, one run | "
        + " | ".join(COLUMNS)
        + " | RMSE: mean ± std | RMSE 95% interval | train s | CPU s (run) | epochs |"
    )
    print("|---|---|---|" + "---|" * len(COLUMNS) + "---|---|---|---|---|")
    for r in runs:
        cells = " | ".join(f"{r.mean(c):.4f}" for c in COLUMNS)
        rating = "rmse" in r.first.metrics
        rmse = f"{r.summary('rmse')} | {r.interval('rmse')}" if rating else "– | –"
        epochs = "-" if r.first.details.get("closed_form") else r.first.details["epochs_run"]
        print(
            f"| {r.model} | {r.summary()} | {r.interval()} | {cells} | {rmse} | {r.mean('train_seconds'):.1f} "
            f"| {statistics.mean(r.cpu_seconds):.1f} | {epochs} |"
        )
    if reference:
        flat = [v for split in reference["ndcg@10"] for v in split]
        low, high = reference["interval"]
        spread = f"{statistics.mean(flat):.4f} ± {sample_std(flat):.4f}"
        if len(reference["ndcg@10"]) > 1:
            spread += f" (splits ± {sample_std([statistics.mean(s) for s in reference['ndcg@10']]):.4f})"
        empty = " | ".join(
            "–" if c != "recall@10" else f"{statistics.mean(reference['recall@10']):.4f}" for c in COLUMNS
        )
        print(
            f"| {REFERENCE} | {spread} | [{low:.4f}, {high:.4f}] | {empty} | – | – "
            f"| {statistics.mean(reference['train_seconds']):.1f} | {statistics.mean(reference['cpu']):.1f} | 60 |"
        )
    by_name = {r.model: r for r in runs}
    if "mf" in by_name:
        mf = by_name["mf"]
        ok = mf.mean("rmse") <= 0.92 and mf.mean("train_seconds") <= 30
        print(f"\nmf: RMSE {mf.mean('rmse'):.4f} in {mf.mean('train_seconds'):.1f} s ({'meets' if ok else 'misses'} "
              "the target)")  # fmt: skip
    best = max(runs, key=lambda r: r.mean())
    ok = best.mean() >= 0.28 and best.mean("recall@10") >= 0.24 and best.mean("train_seconds") <= 30
    print(
        f"best top-10: {best.model} NDCG@10 {best.mean():.4f}, recall@10 {best.mean('recall@10'):.4f} in "
        f"{best.mean('train_seconds'):.1f} s ({'meets' if ok else 'misses'} the target)"
    )
    if reference and "bpr" in by_name:
        bpr, ref = by_name["bpr"], [v for split in reference["ndcg@10"] for v in split]
        gap = bpr.mean() - statistics.mean(ref)
        ratio = bpr.mean("train_seconds") / statistics.mean(reference["train_seconds"])
        print(f"bpr - plain BPR-MF: NDCG@10 {gap:+.4f}; training time x{ratio:.2f} of the reference's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="*", default=[], help="MovieLens-format files or folders")
    parser.add_argument("--models", default=",".join(list_models("recsys")))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the targets are for 2)")
    parser.add_argument("--seeds", type=int, default=1, help="initial seeds per split")
    parser.add_argument("--split-seeds", type=int, default=3, help="per-user random splits (split seeds 0..N-1)")
    parser.add_argument("--no-reference", action="store_true", help="leave out the plain BPR-MF")
    parser.add_argument("--skip-bundled", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.split_seeds} splits x {args.seeds} "
        f"initial seeds; settings: each model's spec defaults. Targets: {TARGETS}."
    )
    sources = [] if args.skip_bundled else [("movies", {"dataset": "movies"})]
    sources += [(path, {"data": path}) for path in args.data]
    for title, source in sources:
        start = time.perf_counter()
        data = load_interactions(source["data"]) if "data" in source else load_bundled("movies")
        meta, sizes = data.meta, {s: len(p) for s, p in data.splits.items()}
        size = f"{meta['n_users']:,} users, {meta['n_items']:,} items, {sum(sizes.values()):,} interactions"
        print(f"{title}: {size}", file=sys.stderr)
        runs = [run_over_seeds("recsys", m, "ndcg@10", args.split_seeds, args.seeds, device="cpu",
                               protocol="random", **source)
                for m in models]  # fmt: skip
        reference = None if args.no_reference else reference_rows(source, args.split_seeds, args.seeds)
        print_table(f"{title} ({size})", runs, reference)
        print(f"\n(whole table: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

"""Recommendation benchmark: every model's test metrics and training seconds on `movies` and on MovieLens files.

Run by hand:
`.venv/bin/python benchmarks/recsys_models.py [--data path/to/u.data ...] [--models mf,ease] [--threads 2]`.
`--data` takes any interactions file the app loads (MovieLens u.data, ratings.dat, ratings.csv) or a folder of
them. Prints one markdown table per dataset. Protocol: each user's interactions split 80/10/10 at random
(split seed 0), top-10 over full ranking of the items the user has not rated in training or validation,
RMSE/MAE on the same test ratings. Settings: the page's defaults (core.tasks.recsys.DEFAULTS, MODEL_OPTIONS).
Times: `train s` is wall-clock training time; `CPU s (run)` is the CPU time of the whole run (loading,
training, evaluation), the fairer number on a machine whose cores are shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import make_config
from core.experiment import run_experiment  # noqa: E402
from core.models import list_models  # noqa: E402
from core.tasks.recsys import DEFAULTS, load_bundled, load_interactions  # noqa: E402

COLUMNS = ["rmse", "mae", "precision@10", "recall@10", "ndcg@10", "hit@10", "map@10", "coverage@10"]
TARGETS = "mf RMSE <= 0.92 in <= 30 s; best top-10 model NDCG@10 >= 0.28 and recall@10 >= 0.24 in <= 30 s"


def benchmark(source: dict, models: list[str], seed: int) -> list[dict]:
    rows = []
    for name in models:
        config = make_config("recsys", name, device="cpu", seed=seed, **source, **DEFAULTS.get(name, {}))
        cpu = time.process_time()
        result = run_experiment(config)
        cpu = time.process_time() - cpu  # this process's CPU time: what the run costs when the cores are shared
        rows.append({"model": name, **result.metrics, "epochs": len(result.history), "cpu_seconds": cpu})
        shown = {k: round(v, 4) for k, v in result.metrics.items() if k in ("rmse", "ndcg@10", "recall@10")}
        seconds = result.metrics["train_seconds"]
        print(f"  {name}: {seconds:.1f} s, {cpu:.1f} CPU s, {shown}", file=sys.stderr, flush=True)
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n### {title}\n")
    print("| model | " + " | ".join(COLUMNS) + " | train s | CPU s (run) | epochs |")
    print("|---|" + "---|" * (len(COLUMNS) + 3))
    for r in rows:
        cells = [f"{r[c]:.4f}" if c in r else "–" for c in COLUMNS]
        times = f"{r['train_seconds']:.1f} | {r['cpu_seconds']:.1f}"
        print(f"| {r['model']} | " + " | ".join(cells) + f" | {times} | {r['epochs']} |")
    mf = next((r for r in rows if r["model"] == "mf"), None)
    best = max(rows, key=lambda r: r["ndcg@10"])
    if mf:
        ok = mf["rmse"] <= 0.92 and mf["train_seconds"] <= 30
        print(f"\nmf: RMSE {mf['rmse']:.4f} in {mf['train_seconds']:.1f} s ({'meets' if ok else 'misses'} the target)")
    ok = best["ndcg@10"] >= 0.28 and best["recall@10"] >= 0.24 and best["train_seconds"] <= 30
    print(
        f"best top-10: {best['model']} NDCG@10 {best['ndcg@10']:.4f}, recall@10 {best['recall@10']:.4f} in "
        f"{best['train_seconds']:.1f} s ({'meets' if ok else 'misses'} the target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="*", default=[], help="MovieLens-format files or folders")
    parser.add_argument("--models", default=",".join(list_models("recsys")))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the targets are for 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-bundled", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads. Targets: {TARGETS}.")
    sources = [] if args.skip_bundled else [("movies", {"dataset": "movies"}, load_bundled("movies"))]
    for path in args.data:
        sources.append((path, {"data": path}, load_interactions(path)))
    for title, source, data in sources:
        start = time.perf_counter()
        meta = data.meta
        sizes = {s: len(p) for s, p in data.splits.items()}
        print(
            f"{title}: {meta['n_users']:,} users, {meta['n_items']:,} items, {sum(sizes.values()):,} interactions "
            f"(train/val/test {sizes['train']:,}/{sizes['val']:,}/{sizes['test']:,})",
            file=sys.stderr,
        )
        rows = benchmark(source, models, args.seed)
        size = f"{meta['n_users']:,} users, {meta['n_items']:,} items, {sum(sizes.values()):,} interactions"
        print_table(f"{title} ({size})", rows)
        print(f"\n(whole table: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

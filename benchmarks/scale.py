"""A realistic-size image set: how fast the folder loader reads it, and how DDP with 2 processes trains on it.

Generates the `shapes` set at 64x64 (core/data/images.py make_shapes' drawing, 6 classes), 50,000 images by
default, saved as PNGs in train/ (95%), val/ (1%) and test/ (4%) class folders under --work (kept and reused).
Then, each in its own process so that memory peaks are its own:

1. the folder loader (core/tasks/image.py load_folder, decoding to the app's 32x32): images/s and peak memory,
   cold (no decoded-image cache) and warm (the cache of a first load);
2. training through the CLI, `python -m core train image --data FOLDER --model M --max-batches K --epochs 3`,
   with --nproc-per-node 1 and 2 (DDP, gloo on the CPU): training samples/s from the run's stored epoch times
   (epochs 2-3: the first holds the start-up), the test accuracy, and the peak memory of the largest process;
3. the same accuracy? The default image run (digits, the default epochs) in 1 and 2 processes over --seeds seeds, with
   Welch's t-test.

    .venv/bin/python benchmarks/scale.py [--images 50000] [--work /tmp/dlstudio-scale] [--batches 40]

Prints a Markdown table and writes it to --out. Samples per second count the global batch: under DDP each rank
computes half of every batch of --batch-size (core.run.training.Shard).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPLITS = {"train": 0.95, "val": 0.01, "test": 0.04}

LOAD = """
import json, resource, sys, time
from core.tasks.image import load_folder
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
data = load_folder(sys.argv[1])
seconds = time.perf_counter() - start
n = sum(len(y) for y in data.y.values())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"images": n, "seconds": seconds, "peak_mb": peak / 1024, "added_mb": (peak - base) / 1024}))
"""


def draw_chunk(job: tuple[Path, str, int, int, int]) -> int:
    """One worker's share: `count` images of one class, seeded by (class, chunk)."""
    from PIL import Image

    from core.data.images import SHAPES, draw_shape

    folder, kind, chunk, start, count = job
    rng = np.random.default_rng([SHAPES.index(kind), chunk])
    for i in range(start, start + count):
        Image.fromarray(draw_shape(kind, rng, 64)).save(folder / f"{i:05d}.png")
    return count


def generate(root: Path, images: int) -> Path:
    """The PNG folder, made once (a finished folder carries a .complete marker with its size)."""
    from core.data.images import SHAPES

    folder = root / f"shapes64-{images}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    per_class, jobs = images // len(SHAPES), []
    for kind in SHAPES:
        start = 0
        for split, share in SPLITS.items():
            held_out = sum(round(per_class * s) for k, s in SPLITS.items() if k != "train")
            count = round(per_class * share) if split != "train" else per_class - held_out
            (folder / split / kind).mkdir(parents=True)
            for first in range(0, count, 500):
                jobs.append((folder / split / kind, kind, len(jobs), start + first, min(500, count - first)))
            start += count
    started = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        done = 0
        for n in pool.map(draw_chunk, jobs):
            done += n
            print(f"\rgenerating: {done:,} / {per_class * len(SHAPES):,} images", end="", file=sys.stderr, flush=True)
    print(f"\ngenerated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    (folder / ".complete").write_text(str(images))
    return folder


def run_json(cmd: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """Run a command whose last stdout line is JSON; returns it and the peak RSS (MB) of the largest process of its
    tree (wait4's ru_maxrss: the command's own peak or its largest waited-for descendant's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read()[-3000:]}")
        return json.loads(out.read().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def load_times(folder: Path, work: Path, env: dict[str, str]) -> list[dict]:
    """The loader in a fresh process, cold (an empty cache) then warm."""
    cache = work / "user_data"
    shutil.rmtree(cache / "decoded", ignore_errors=True)
    rows = []
    for label in ("cold: decode every PNG", "warm: the decoded-image cache"):
        result, _ = run_json([sys.executable, "-c", LOAD, str(folder)], {**env, "DLSTUDIO_USER_DATA": str(cache)})
        rows.append({"what": label, **result})
        print(f"load {label}: {result}", file=sys.stderr)
    return rows


def train_rates(folder: Path, work: Path, env: dict[str, str], args) -> list[dict]:
    from core.run.store import RunStore

    rows = []
    cores = str(os.cpu_count() or 1)
    # 1 process with every core's thread (what a user gets), with one thread (each DDP rank's share), then DDP.
    for nproc, threads in ((1, cores), (1, "1"), (2, None)):
        runs = work / "runs"
        cmd = [sys.executable, "-m", "core", "train", "image", "--data", str(folder), "--model", args.model]
        cmd += ["--epochs", "3", "--max-batches", str(args.batches), "--batch-size", str(args.batch_size)]
        cmd += ["--nproc-per-node", str(nproc), "--runs", str(runs), "--json"]
        wall = time.perf_counter()
        run_env = {**env, "DLSTUDIO_USER_DATA": str(work / "user_data")}
        if threads:
            run_env["OMP_NUM_THREADS"] = threads
        result, peak = run_json(cmd, run_env)
        wall = time.perf_counter() - wall
        history = RunStore(runs).history(result["run_id"])
        seconds = history[-1]["seconds"] - history[0]["seconds"]
        samples = (len(history) - 1) * args.batches * args.batch_size
        rows.append(
            {
                "processes": nproc,
                "threads": _threads_text(threads or str(int(cores) // nproc), each=nproc > 1),
                "samples_per_s": samples / seconds,
                "accuracy": result["metrics"]["accuracy"],
                "peak_mb": peak,
                "wall_s": wall,
                "run_id": result["run_id"],
            }
        )
        print(f"train: {rows[-1]}", file=sys.stderr)
    return rows


def same_accuracy(work: Path, env: dict[str, str], seeds: int) -> list[dict]:
    """The default image run (digits, the default model and its default epochs) in 1 and 2 processes, seed by seed:
    does DDP train the same model? (The 50,000-image runs above are too short to say.)"""
    rows = []
    for nproc in (1, 2):
        scores = []
        for seed in range(seeds):
            cmd = [sys.executable, "-m", "core", "train", "image", "--dataset", "digits", "--seed", str(seed)]
            cmd += ["--nproc-per-node", str(nproc), "--runs", str(work / "runs"), "--json"]
            result, _ = run_json(cmd, {**env, "OMP_NUM_THREADS": "1"})
            scores.append(result["metrics"]["accuracy"])
            print(f"digits x{nproc} seed {seed}: {scores[-1]:.4f}", file=sys.stderr)
        rows.append({"processes": nproc, "model": result["model"], "scores": scores})
    return rows


def accuracy_table(rows: list[dict]) -> str:
    from core.eval.significance import format_p, welch_test

    lines = [
        f"| digits, {rows[0]['model']}, default settings | test accuracy per seed | mean ± sd |",
        "|---|---|---|",
    ]
    for r in rows:
        scores = np.array(r["scores"])
        lines.append(
            f"| {r['processes']} process{'es (DDP)' if r['processes'] > 1 else ''} "
            f"| {', '.join(f'{v:.3f}' for v in scores)} | {scores.mean():.3f} ± {scores.std(ddof=1):.3f} |"
        )
    test = welch_test(rows[0]["scores"], rows[1]["scores"])
    verdict = "no seed varies" if test is None else f"{test.name}: {format_p(test.p_value)}"
    return "\n".join([*lines, "", f"1 vs 2 processes: {verdict}."])


def _threads_text(threads: str, each: bool) -> str:
    return f"{threads} thread{'' if threads == '1' else 's'}{' each' if each else ''}"


def table(folder: Path, images: int, loads: list[dict], trains: list[dict], args) -> str:
    cores, pngs = os.cpu_count(), list(folder.rglob("*.png"))
    lines = [
        f"Machine: {cores} CPU cores ({platform.processor() or platform.machine()}), no GPU; "
        f"{len(pngs):,} PNGs of 64x64 shapes ({sum(f.stat().st_size for f in pngs) / 1e6:,.0f} MB).",
        "",
        "| data loading (load_folder, to 32x32) | images/s | seconds | peak memory of the process "
        "| added by the load |",
        "|---|---|---|---|---|",
    ]
    for r in loads:
        lines.append(
            f"| {r['what']} | {r['images'] / r['seconds']:,.0f} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} MB "
            f"| {r['added_mb']:,.0f} MB |"
        )
    lines += [
        "",
        f"| training ({args.model}, batch {args.batch_size}, {args.batches} batches x 3 epochs) | samples/s "
        "| vs the best 1 process | test accuracy | peak memory (largest process) | wall s (start-up, loading) |",
        "|---|---|---|---|---|---|",
    ]
    base = max(r["samples_per_s"] for r in trains if r["processes"] == 1)  # the best one process does
    for r in trains:
        what = "DDP, gloo, " if r["processes"] > 1 else ""
        lines.append(
            f"| {r['processes']} process{'es' if r['processes'] > 1 else ''} ({what}{r['threads']}) "
            f"| {r['samples_per_s']:,.0f} | {r['samples_per_s'] / base:.2f}x | {r['accuracy']:.3f} "
            f"| {r['peak_mb']:,.0f} MB | {r['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--work", default="/tmp/dlstudio-scale", help="where the PNGs, cache and runs go (kept)")
    parser.add_argument("--model", default="cnn_bn")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40, help="batches per epoch (--max-batches)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the same-accuracy check (0: skip it)")
    parser.add_argument("--parts", default="speed,accuracy", help="speed (load + train), accuracy, or both")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "scale.md"))
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # each launch sizes its own threads
    env["PYTHONPATH"] = str(ROOT)
    parts = []
    if "speed" in args.parts:
        folder = generate(work, args.images)
        loads = load_times(folder, work, env)
        parts.append(table(folder, args.images, loads, train_rates(folder, work, env, args), args))
    if "accuracy" in args.parts and args.seeds:
        parts.append(accuracy_table(same_accuracy(work, env, args.seeds)))
    text = "\n\n".join(parts)
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

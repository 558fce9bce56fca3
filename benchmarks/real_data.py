"""Every model with its spec defaults on the real sets in ../shared/data: free-spoken digits and ORL faces.

Two steps, both by hand (the sets are never in this repo and no test reads them):

    PYTHONPATH=. .venv/bin/python benchmarks/real_data.py layouts --out /tmp/real        # the split folders below
    PYTHONPATH=. .venv/bin/python benchmarks/real_data.py table --layouts /tmp/real --seeds 2

`layouts` writes copies of the clips and photos in the folder layouts the CLI reads (`train/`, `val/`, `test/`
of class folders), one per split:

- `fsdd-own`: free-spoken-digit's own split (takes 0-4 of every speaker and digit are the test); validation is
  carved from `train/` by the loader, as for any user's folder.
- `fsdd-loso-<speaker>`: new voices. Training: the other three speakers' takes 5-49; validation: the held-out
  speaker's takes 5-49; test: the held-out speaker's takes 0-4 (never read while choosing defaults).
- `orl-k<K>-s<S>`: ORL faces with K of each person's 10 photos for training (3, 5 or 7), seeded by S; validation
  2 photos a person (1 for K=7), test the rest.
- `orl15x8-s<S>`: 15 of the 40 people, 8 photos each, one flat folder per person and no split folders (the
  loader's own seeded 70/10/20 split): the shape of a small set a user brings, with nothing but `--data`.

`table` trains every model of both tasks through `run_experiment` with nothing but `--data` and `--model` given
(what `python -m core train TASK --data DIR --model M` trains), beside the task's classical baseline, and prints a
Markdown table: the test accuracy's mean ± standard deviation (ddof=1) over the layouts of a row, the range of
their 95% intervals, and the training seconds on this machine.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")
FACE_SPLITS = {3: 2, 5: 2, 7: 1}  # training photos a person -> validation photos a person (the rest: test)
CLIP = re.compile(r"(?P<digit>\d+)_(?P<speaker>[a-z]+)_(?P<take>\d+)\.wav$")


def _put(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def fsdd_layouts(source: Path, out: Path) -> list[Path]:
    """fsdd-own (the folder as given) and one leave-one-speaker-out folder per speaker."""
    made = [out / "fsdd-own"]
    if not made[0].exists():
        shutil.copytree(source, made[0])
    clips = [(m, f) for f in sorted(source.glob("*/*/*.wav")) if (m := CLIP.match(f.name))]
    for held in SPEAKERS:
        root = out / f"fsdd-loso-{held}"
        made.append(root)
        if root.exists():
            continue
        for m, f in clips:
            take = int(m["take"])
            if m["speaker"] != held:
                split = "train" if take >= 5 else None
            else:
                split = "val" if take >= 5 else "test"
            if split:
                _put(f, root / split / m["digit"] / f.name)
    return made


def orl_layouts(source: Path, out: Path, seeds: int) -> list[Path]:
    """orl-k<K>-s<S>: K photos a person for training, seeded, for K in FACE_SPLITS and S < seeds."""
    made = []
    people = sorted(p for p in source.iterdir() if p.is_dir())
    for k, n_val in FACE_SPLITS.items():
        for seed in range(seeds):
            root = out / f"orl-k{k}-s{seed}"
            made.append(root)
            if root.exists():
                continue
            rng = random.Random(seed)
            for person in people:
                photos = sorted(person.iterdir())
                rng.shuffle(photos)
                for i, photo in enumerate(photos):
                    split = "train" if i < k else "val" if i < k + n_val else "test"
                    _put(photo, root / split / person.name / photo.name)
    return made


def small_face_sets(source: Path, out: Path, seeds: int, people: int = 15, photos: int = 8) -> list[Path]:
    """orl15x8-s<S>: `people` people drawn by seed S, `photos` photos each, class folders and no split."""
    made = []
    for seed in range(seeds):
        root = out / f"orl{people}x{photos}-s{seed}"
        made.append(root)
        if root.exists():
            continue
        rng = random.Random(1000 + seed)
        for person in rng.sample(sorted(p for p in source.iterdir() if p.is_dir()), people):
            for photo in rng.sample(sorted(person.iterdir()), photos):
                _put(photo, root / person.name / photo.name)
    return made


def layouts(out: Path, seeds: int) -> dict[str, list[Path]]:
    out.mkdir(parents=True, exist_ok=True)
    return {
        "speech": fsdd_layouts(SHARED / "fsdd-4speakers", out),
        "image": orl_layouts(SHARED / "orl-faces", out, seeds) + small_face_sets(SHARED / "orl-faces", out, seeds),
    }


def groups(task: str, folders: list[Path]) -> dict[str, list[Path]]:
    """The table's rows of data: folders of one kind (own split, leave-one-speaker-out, K photos) together."""
    rows: dict[str, list[Path]] = {}
    for f in folders:
        kind = re.sub(r"-(s\d+|jackson|nicolas|theo|yweweler)$", "", f.name)
        rows.setdefault(kind, []).append(f)
    return rows


def one_cell(task: str, model: str, path: Path, store) -> dict:
    """One run with nothing but --data and --model given, and its baseline beside it."""
    from core.run.config import make_config
    from core.run.experiment import run_experiment

    r = run_experiment(make_config(task, model, data=str(path)), store)
    b = r.details.get("baseline") or {}
    test = b.get("test") or {}
    gap = r.metrics["accuracy"] - b["metrics"]["accuracy"] if b.get("metrics") else None
    return {
        "accuracy": r.metrics["accuracy"],
        "ci95": r.details["ci95"]["accuracy"],
        "seconds": r.metrics["train_seconds"],
        "baseline": (b["model"], b["metrics"]["accuracy"]) if b.get("metrics") else None,
        "beats": gap is not None and gap > 0 and (test.get("p_value") or 1.0) < 0.05,
        "loses": gap is not None and gap < 0 and (test.get("p_value") or 1.0) < 0.05,
    }


def run_table(task: str, folders: list[Path], models: list[str], runs_dir: Path, kinds: set[str] | None) -> None:
    from core.run.store import RunStore

    store = RunStore(runs_dir)
    print(f"\n### {task}\n")
    print("| data (splits) | model | test accuracy, mean ± sd | 95% intervals, lowest to highest | baseline | "
          "beats / level / behind the baseline | train s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for kind, paths in groups(task, folders).items():
        if kinds and kind not in kinds:
            continue
        for model in models:
            cells = [one_cell(task, model, path, store) for path in paths]
            accs = [c["accuracy"] for c in cells]
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            bases = [c["baseline"] for c in cells if c["baseline"]]
            base = f"{bases[0][0]} {statistics.mean(a for _, a in bases):.3f}" if bases else "(a baseline itself)"
            beats, behind = sum(c["beats"] for c in cells), sum(c["loses"] for c in cells)
            verdict = f"{beats} / {len(bases) - beats - behind} / {behind}" if bases else ""
            print(
                f"| {kind} ({len(paths)}) | {model} | {statistics.mean(accs):.3f} ± {sd:.3f} | "
                f"[{min(c['ci95'][0] for c in cells):.3f}, {max(c['ci95'][1] for c in cells):.3f}] | {base} | "
                f"{verdict} | {statistics.mean(c['seconds'] for c in cells):.1f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lay = sub.add_parser("layouts")
    lay.add_argument("--out", type=Path, required=True)
    lay.add_argument("--seeds", type=int, default=3, help="seeded face splits per K")
    tab = sub.add_parser("table")
    tab.add_argument("--layouts", type=Path, required=True)
    tab.add_argument("--seeds", type=int, default=3, help="face splits per K to use")
    tab.add_argument("--tasks", default="speech,image")
    tab.add_argument("--models", help="comma-separated (default: every model of the task)")
    tab.add_argument("--runs", type=Path, default=Path("/tmp/real_data_runs"))
    tab.add_argument("--kinds", help="comma-separated rows of data (e.g. fsdd-own,orl-k5; default: all)")
    args = parser.parse_args()
    if args.command == "layouts":
        for task, made in layouts(args.out, args.seeds).items():
            print(task, *(str(p) for p in made), sep="\n  ")
        return
    import torch

    from core.models import list_models

    made = layouts(args.layouts, args.seeds)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {time.strftime('%Y-%m-%d')}")
    for task in args.tasks.split(","):
        models = args.models.split(",") if args.models else list_models(task)
        kinds = set(args.kinds.split(",")) if args.kinds else None
        run_table(task, made[task], [m for m in models if m in list_models(task)], args.runs, kinds)


if __name__ == "__main__":
    main()

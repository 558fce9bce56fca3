"""Small user data from the CLI with nothing but --data and --model: does the default setting learn?

Makes a folder of a few hundred photos of twelve "subjects" (scikit-image's sample photos, each shot many
times: random crops, turns, sizes, lighting, colour casts, sensor noise, JPEG), then trains each model through
`python -m core train image --data FOLDER --model M --json` with no other flag, with and without the
small-data batch rule (`--no-fit-batch`), over several split seeds. Prints a Markdown table.

    .venv/bin/python benchmarks/small_data.py --seeds 3 --models cnn_bn,resnet
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = [
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "brick",
    "coins",
    "moon",
    "page",
    "text",
    "clock",
    "hubble_deep_field",
]


def subject_photos() -> dict[str, np.ndarray]:
    from skimage import data  # ships its sample photos: no download

    return {name: getattr(data, name)() for name in SUBJECTS if hasattr(data, name)}


def shoot(photo: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One snapshot: a random crop of 55-90% of the side, a turn of up to 15 degrees, lighting, noise."""
    img = Image.fromarray(photo).convert("RGB")
    w, h = img.size
    side = int(min(w, h) * rng.uniform(0.55, 0.9))
    left, top = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
    img = img.crop((left, top, left + side, top + side)).rotate(rng.uniform(-15, 15), fillcolor=(128, 128, 128))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.6, 1.4))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.3))
    arr = np.asarray(img.resize((int(rng.integers(64, 160)),) * 2), dtype=np.float32)
    arr = arr * rng.uniform(0.85, 1.15, size=3) + rng.normal(0, rng.uniform(2, 12), arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_folder(root: Path, per_subject: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name, photo in subject_photos().items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_subject):
            shoot(photo, rng).save(root / name / f"{name}_{i:03d}.jpg", quality=int(rng.integers(60, 95)))
    return root


def train(folder: Path, model: str, split_seed: int, runs: Path, fit: bool) -> dict:
    cmd = [sys.executable, "-m", "core", "train", "image", "--data", str(folder), "--model", model, "--json"]
    cmd += ["--runs", str(runs), "--split-seed", str(split_seed)] + ([] if fit else ["--no-fit-batch"])
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="cnn_bn,resnet,mlp,logreg")
    parser.add_argument("--seeds", type=int, default=3, help="split seeds")
    parser.add_argument("--per-subject", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "subjects", args.per_subject)
        n = sum(1 for _ in folder.rglob("*.jpg"))
        print(f"{n} photos of {len(list(folder.iterdir()))} subjects; split seeds 0..{args.seeds - 1}\n")
        print("| model | batch rule | test accuracy (mean ± std over split seeds) | 95% CI of seed 0 | train s |")
        print("|---|---|---|---|---|")
        for model in args.models.split(","):
            for fit in (True, False):
                results = [train(folder, model, s, Path(tmp) / "runs", fit) for s in range(args.seeds)]
                acc = np.array([r["metrics"]["accuracy"] for r in results])
                ci = results[0]["ci95"].get("accuracy", [float("nan")] * 2)
                secs = np.mean([r["seconds"] for r in results])
                rule = "on (default)" if fit else "off (--no-fit-batch)"
                spread = acc.std(ddof=1) if len(acc) > 1 else 0.0  # the sample std, as races report it
                print(f"| {model} | {rule} | {acc.mean():.3f} ± {spread:.3f} | {ci[0]:.3f}–{ci[1]:.3f} | {secs:.1f} |")
                if model in ("logreg",):
                    break  # closed form: no batches


if __name__ == "__main__":
    main()

"""Seconds to train a head on a frozen pretrained backbone's cached embeddings against fine-tuning the whole network.

400 images (the `shapes` generator: 6 classes, 32x32 colour) in a folder; mobilenet_v3_small started from "ImageNet"
weights that are the architecture's random initial weights put in a temporary torch hub cache (this measures speed,
not accuracy: real weights cannot be fetched offline). Prints, as Markdown: the first frozen run (embedding pass +
head), then 4 what-if head variants on the cached embeddings, then fine-tuning for a few epochs.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/transfer_head.py --threads 2 --fine-tune-epochs 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.data.images import SHAPES, make_shapes
from core.models import get_spec
from core.models.pretrained import cache_file
from core.run.config import make_config
from core.run.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]

MODEL = "mobilenet_v3_small"
VARIANTS = [{"optimizer": "adam", "lr": 1e-3}, {"optimizer": "adam", "lr": 1e-2}, {"optimizer": "sgd", "lr": 0.1},
            {"optimizer": "adamw", "lr": 3e-3}]  # fmt: skip


def write_images(folder: Path, per_class: int) -> None:
    x, y = make_shapes(per_class=per_class, seed=0)
    for n, (img, label) in enumerate(zip(x, y)):
        target = folder / SHAPES[label]
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img.transpose(1, 2, 0) * 255).astype(np.uint8)).save(target / f"{n}.png")


def seed_cache() -> None:
    import torchvision

    path = cache_file(get_spec("image", MODEL).pretrained)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.get_model(MODEL, weights=None).state_dict(), path)


def timed(config: dict) -> tuple[float, float, bool]:
    """(whole run seconds, training seconds, whether the head trained alone)."""
    start = time.perf_counter()
    result = run_experiment(config)
    return time.perf_counter() - start, result.seconds, bool(result.details.get("head_only"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TORCH_HOME"] = str(Path(tmp) / "torch")
        os.environ["DLSTUDIO_USER_DATA"] = str(Path(tmp) / "user_data")
        write_images(Path(tmp) / "photos", args.images // len(SHAPES))
        seed_cache()
        base = {"data": str(Path(tmp) / "photos"), "pretrained": "imagenet", "baseline": False}
        frozen = {**base, "freeze_backbone": True}
        print(f"| {args.images} images, {MODEL}, {args.threads} threads | run s | training s | head only |")
        print("|---|---|---|---|")
        first = timed(make_config("image", MODEL, **frozen))
        print("| frozen, first run (embedding pass + head) | {:.1f} | {:.2f} | {} |".format(*first))
        race = time.perf_counter()
        for v in VARIANTS:
            row = timed(make_config("image", MODEL, **frozen, **v))
            print(f"| frozen, cached: {v['optimizer']} lr {v['lr']:g} | {row[0]:.1f} | {row[1]:.2f} | {row[2]} |")
        print(f"| race of {len(VARIANTS)} head variants, in all | {time.perf_counter() - race:.1f} | | |")
        tuned = make_config("image", MODEL, **base, epochs=args.fine_tune_epochs)
        row = timed(tuned)
        epochs = f"{args.fine_tune_epochs} epoch(s) of {get_spec('image', MODEL).defaults['epochs']}"
        print(f"| fine-tuning, {epochs} | {row[0]:.1f} | {row[1]:.2f} | {row[2]} |")


if __name__ == "__main__":
    main()

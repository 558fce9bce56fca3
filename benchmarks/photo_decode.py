"""What a folder of photos costs at the size a model reads it: 32x32 (the small nets) against 224x224 (an ImageNet
backbone's own input size, core/tasks/image.py decode_size).

Generates --photos JPEG photos (640x480, 4 classes) under --work (kept and reused), then loads the folder with
core/tasks/image.py load_folder at each size, each load in its own process so its memory peak is its own: cold (no
decoded-image cache) and warm (the cache the first load wrote). Prints seconds, the peak memory the load added and
the decoded-image cache file's size.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/photo_decode.py [--photos 2000] [--work /tmp/dlstudio-photos]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSES = 4

LOAD = """
import json, resource, sys, time
from core.data.image_cache import cache_dir
from core.tasks.image import load_folder
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
data = load_folder(sys.argv[1], size=int(sys.argv[2]))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cached = sum(p.stat().st_size for p in cache_dir().glob("*.npy"))
print(json.dumps({"shape": list(data.x["train"].shape[1:]), "seconds": seconds, "added_mb": (peak - base) / 1024,
                  "cache_mb": cached / 1e6}))
"""


def make_photos(root: Path, count: int) -> None:
    """Smooth colour waves with noise, saved as JPEG at quality 85: photo-like sizes and decode costs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    for c in range(CLASSES):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(count // CLASSES):
            waves = np.sin(xx / rng.uniform(20, 80)) * 60 + np.cos(yy / rng.uniform(20, 80)) * 60
            rgb = waves[..., None] + rng.uniform(60, 190, 3) + rng.normal(0, 8, (480, 640, 3))
            Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(root / f"c{c}" / f"{i}.jpg", quality=85)


def load(folder: Path, size: int, user_data: str) -> dict:
    env = {**os.environ, "DLSTUDIO_USER_DATA": user_data, "DLSTUDIO_DATA_ROOTS": str(folder.parent)}
    out = subprocess.run([sys.executable, "-c", LOAD, str(folder), str(size)], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "dlstudio-photos")
    args = parser.parse_args()
    folder = args.work / f"photos{args.photos}"
    if not folder.is_dir():
        make_photos(folder, args.photos)
    print(f"| {args.photos:,} photos, 640x480 JPEG | decoded at | seconds | memory added MB | cache file MB |")
    print("|---|---|---|---|---|")
    for size in (32, 224):
        with tempfile.TemporaryDirectory() as user_data:
            for run in ("cold", "warm"):
                r = load(folder, size, user_data)
                print(f"| {run} | {'x'.join(map(str, r['shape']))} | {r['seconds']:.1f} | {r['added_mb']:,.0f} "
                      f"| {r['cache_mb']:,.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()

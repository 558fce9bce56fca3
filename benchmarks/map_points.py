"""The Map on 2,000 points (core/views/maps.py MAX_POINTS): seconds to project them with PCA and t-SNE (and UMAP where
umap-learn is installed), and to build the figure and its JSON (what Streamlit sends) once the projection is cached.

The points are 2,000 embeddings of 576 features (mobilenet_v3_small's head input), six classes of Gaussian blobs,
seeded: the projection's cost depends on the sizes, not on what the features mean.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/map_points.py [--points 2000] [--features 576] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from core.views.charts import embedding_map_figure
from core.views.maps import methods, project


def blobs(n: int, d: int, classes: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(scale=3.0, size=(classes, d))
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def seconds(work, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--features", type=int, default=576)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    z, y = blobs(args.points, args.features)
    names = [f"class {c}" for c in range(6)]
    pred = np.where(np.arange(len(y)) % 10 == 0, (y + 1) % 6, y)  # one in ten a mistake: ringed
    hover = [f"test example {i}" for i in range(len(y))]
    print(f"{args.points:,} points x {args.features} features, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| step | median s | all runs s |\n|---|---|---|")
    for method in methods():
        runs = seconds(lambda m=method: project(z, m), args.repeats)
        print(f"| project: {method} | {np.median(runs):.2f} | {', '.join(f'{s:.2f}' for s in runs)} |")
    xy = project(z, "PCA")
    runs = seconds(lambda: embedding_map_figure(xy, y, pred, names, hover).to_json(), args.repeats)
    print(f"| figure + JSON (projection cached) | {np.median(runs):.2f} | {', '.join(f'{s:.2f}' for s in runs)} |")


if __name__ == "__main__":
    main()

"""Image benchmark on `digits`: every model over several seeds beside scikit-learn, and trainer overhead.

Run by hand: `.venv/bin/python benchmarks/image_models.py [--seeds 5] [--models cnn_bn,resnet]`.
Prints markdown tables. One stratified split (seed 0) for all; the seeds change initialisation and order.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import make_config
from core.experiment import run_experiment  # noqa: E402
from core.models import list_models  # noqa: E402
from core.tasks.image import AUGMENT_DEFAULTS, DEFAULTS, load_bundled  # noqa: E402
from core.training import TensorClassification, TrainConfig, Trainer, seed_everything  # noqa: E402


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.pstdev(values):.4f}"


def augment_text(augment: dict | None) -> str:
    if not augment:
        return "-"
    return f"shift {augment['shift']:.0%}, rotate ±{augment['rotate']:.0f}°"


def sklearn_baselines(seeds: int) -> list[tuple[str, list[float], list[float]]]:
    data = load_bundled("digits", seed=0)
    x_tr = torch.cat([data.x["train"], data.x["val"]]).flatten(1).numpy()
    y_tr = torch.cat([data.y["train"], data.y["val"]]).numpy()
    x_te, y_te = data.x["test"].flatten(1).numpy(), data.y["test"].numpy()
    rows = []
    for name, make in [
        ("sklearn SVC (rbf, C=10)", lambda s: SVC(C=10, gamma="scale", random_state=s)),
        ("sklearn LogisticRegression", lambda s: LogisticRegression(max_iter=5000, random_state=s)),
    ]:
        accs, secs = [], []
        for seed in range(seeds):
            start = time.perf_counter()
            clf = make(seed).fit(x_tr, y_tr)
            secs.append(time.perf_counter() - start)
            accs.append(float((clf.predict(x_te) == y_te).mean()))
        rows.append((name, accs, secs))
    return rows


def trainer_vs_bare_loop(epochs: int = 20, repeats: int = 5) -> tuple[float, float]:
    """Samples per second of our Trainer and of a hand-written loop, same model, data and settings.

    The two alternate `repeats` times and each keeps its best, so background load hits both alike.
    """
    ours, bare = 0.0, 0.0
    for _ in range(repeats):
        a, b = _throughputs(epochs)
        ours, bare = max(ours, a), max(bare, b)
    return ours, bare


def _throughputs(epochs: int) -> tuple[float, float]:
    data = load_bundled("digits", seed=0)
    x, y = data.x["train"], data.y["train"]
    from core.models import get_model

    def model():
        seed_everything(0)
        return get_model("image", "cnn_bn", channels=1, size=8, num_classes=10)

    objective = TensorClassification(x, y, data.x["val"], data.y["val"])
    m = model()
    start = time.perf_counter()
    Trainer(m, objective, TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, device="cpu")).fit()
    ours = epochs * len(y) / (time.perf_counter() - start)

    m = model()
    g = seed_everything(0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        m.train()
        order = torch.randperm(len(y), generator=g)
        for s in range(0, len(y), 64):
            idx = order[s : s + 64]
            loss = nn.functional.cross_entropy(m(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        m.eval()
        with torch.no_grad():  # the trainer validates every epoch: so does the bare loop
            nn.functional.cross_entropy(m(data.x["val"]), data.y["val"])
    bare = epochs * len(y) / (time.perf_counter() - start)
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default=",".join(list_models("image")))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; digits, one stratified 70/10/20 split\n")
    print("| model | test accuracy (mean ± std) | train seconds (mean) | epochs | augmentation | parameters |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        accs, secs, params = [], [], 0
        opts = DEFAULTS.get(name, {})
        for seed in range(args.seeds):
            # the split stays fixed (split seed 0); `seed` changes the initial weights and batch order
            config = make_config(
                "image",
                name,
                dataset="digits",
                device="cpu",
                split_seed=0,
                augment=AUGMENT_DEFAULTS.get(name, {}),
                **{**opts, "seed": seed},
            )
            result = run_experiment(config)
            accs.append(result.metrics["accuracy"])
            secs.append(result.metrics["train_seconds"])
            params = result.metrics["parameters"]
        print(
            f"| {name} | {mean_std(accs)} | {statistics.mean(secs):.2f} | {opts.get('epochs', '-')} "
            f"| {augment_text(AUGMENT_DEFAULTS.get(name))} | {params:,} |",
            flush=True,
        )
    for name, accs, secs in sklearn_baselines(args.seeds):
        print(f"| {name} | {mean_std(accs)} | {statistics.mean(secs):.2f} | - | - | - |", flush=True)
    ours, bare = trainer_vs_bare_loop()
    print(
        f"\nTrainer throughput: {ours:,.0f} samples/s; bare PyTorch loop: {bare:,.0f} samples/s; "
        f"ratio {ours / bare:.3f}"
    )


if __name__ == "__main__":
    main()

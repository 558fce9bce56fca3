"""Image benchmark on `digits`: every model over split seeds and initial seeds beside scikit-learn, and the
trainer's overhead against a bare PyTorch loop.

Run by hand: `.venv/bin/python benchmarks/image_models.py [--split-seeds 3] [--seeds 2] [--models cnn_bn,resnet]
[--threads 1]`. Prints markdown tables. Settings: each model's spec defaults (`make_config("image", model)` with
nothing else given: what the page's Train button trains). Every split seed makes another stratified 70/10/20
split; every initial seed changes the weights, batch order and augmentation. The interval is the 95% interval
(Wilson) of the first run (split 0, seed 0), as every run reports it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from torch import nn

from benchmarks.over_seeds import run_over_seeds, sample_std
from core.eval.metrics import ci95_accuracy
from core.models import get_model, list_models
from core.run.config import make_config
from core.run.training import TensorClassification, TrainConfig, Trainer, seed_everything
from core.tasks.image import load_bundled

SVC_C = (1.0, 10.0, 100.0)  # chosen on the validation split, as the deep models' settings were


def augment_text(augment: dict | None) -> str:
    if not augment or not (augment.get("shift") or augment.get("rotate")):
        return "-"
    return f"shift {augment['shift']:.0%}, rotate ±{augment['rotate']:.0f}°"


def sklearn_baselines(split_seeds: int) -> list[tuple[str, list[float], list[float], list[float]]]:
    """SVC (C chosen on validation) and logistic regression on pixels, trained on each split's training part:
    (name, test accuracies per split, seconds, the first split's 95% interval)."""
    rows = {"sklearn SVC (rbf, C on validation)": ([], [], None), "sklearn LogisticRegression": ([], [], None)}
    for split in range(split_seeds):
        data = load_bundled("digits", seed=split)
        x = {s: data.x[s].flatten(1).numpy() for s in data.x}
        y = {s: data.y[s].numpy() for s in data.y}
        start = time.perf_counter()
        svc = max((SVC(C=c, gamma="scale").fit(x["train"], y["train"]) for c in SVC_C),
                  key=lambda m: (m.score(x["val"], y["val"]), -m.C))  # fmt: skip
        svc_seconds = time.perf_counter() - start
        start = time.perf_counter()
        logreg = LogisticRegression(max_iter=5000).fit(x["train"], y["train"])
        logreg_seconds = time.perf_counter() - start
        for name, clf, seconds in zip(rows, (svc, logreg), (svc_seconds, logreg_seconds)):
            accs, secs, interval = rows[name]
            correct = int((clf.predict(x["test"]) == y["test"]).sum())
            accs.append(correct / len(y["test"]))
            secs.append(seconds)
            rows[name] = (accs, secs, interval or ci95_accuracy(correct, len(y["test"])))
    return [(name, *values) for name, values in rows.items()]


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
    settings = make_config("image", "cnn_bn")
    lr, batch = settings["lr"], settings["batch_size"]

    def model():
        seed_everything(0)
        return get_model("image", "cnn_bn", channels=1, size=8, num_classes=10)

    objective = TensorClassification(x, y, data.x["val"], data.y["val"])
    m = model()
    start = time.perf_counter()
    Trainer(m, objective, TrainConfig(epochs=epochs, batch_size=batch, lr=lr, device="cpu")).fit()
    ours = epochs * len(y) / (time.perf_counter() - start)

    m = model()
    g = seed_everything(0)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    start = time.perf_counter()
    for _ in range(epochs):
        m.train()
        order = torch.randperm(len(y), generator=g)
        for s in range(0, len(y), batch):
            idx = order[s : s + batch]
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
    parser.add_argument("--seeds", type=int, default=2, help="initial seeds per split")
    parser.add_argument("--split-seeds", type=int, default=3, help="stratified splits (split seeds 0..N-1)")
    parser.add_argument("--models", default=",".join(list_models("image")))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-overhead", action="store_true", help="skip the trainer-vs-bare-loop measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); digits, {args.split_seeds} stratified "
        f"70/10/20 splits x {args.seeds} initial seeds; settings: each model's spec defaults\n"
    )
    print(
        "| model | test accuracy: mean ± std (spread between splits, between seeds) | 95% interval, one run "
        "| train seconds (mean) | epochs | augmentation | parameters |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        runs = run_over_seeds("image", name, "accuracy", args.split_seeds, args.seeds, dataset="digits", device="cpu")
        config = runs.first.config
        epochs = "-" if runs.first.details.get("closed_form") else config.epochs
        print(
            f"| {name} | {runs.summary()} | {runs.interval()} | {runs.mean('train_seconds'):.2f} | {epochs} "
            f"| {augment_text(config.augment)} | {runs.first.metrics['parameters']:,} |",
            flush=True,
        )
    for name, accs, secs, (low, high) in sklearn_baselines(args.split_seeds):
        spread = f"{statistics.mean(accs):.4f} ± {sample_std(accs):.4f} (splits)"
        print(f"| {name} | {spread} | [{low:.4f}, {high:.4f}] | {statistics.mean(secs):.2f} | - | - | - |", flush=True)
    if not args.no_overhead:
        ours, bare = trainer_vs_bare_loop()
        print(
            f"\nTrainer throughput: {ours:,.0f} samples/s; bare PyTorch loop: {bare:,.0f} samples/s; "
            f"ratio {ours / bare:.3f}"
        )


if __name__ == "__main__":
    main()

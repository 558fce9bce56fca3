"""95% interval widths by what is resampled: RMSE/MAE over ratings vs over users (bundled `movies`, mf), and
speech accuracy over clips (Wilson) vs over speakers (bundled `commands`, the default model).

    python benchmarks/interval_units.py

A user's ratings are not independent (a harsh rater is harsh on every film), nor are a speaker's clips, so
resampling single ratings or clips understates the uncertainty; the runs' intervals resample users and
speakers (issue 18).
"""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from core.eval.metrics import ci95_accuracy, ci95_mean, rating_ci95
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import RunStore
from core.tasks import get_task, load_run_model


def width(interval: list[float]) -> float:
    return interval[1] - interval[0]


def ratings(store: RunStore) -> None:
    run_id = run_experiment(make_config("recsys", "mf", dataset="movies", seed=0), store).run_id
    model, ckpt = load_run_model(store, run_id)
    test = get_task("recsys").load_data(RunConfig.from_dict(ckpt["config"])).splits["test"]
    with torch.no_grad():
        err = model.predict_rating(test.users, test.items).numpy().astype(np.float64) - test.ratings.numpy()
    by_users = rating_ci95(np.zeros(len(err)), err, test.users.numpy())
    by_ratings = {"rmse": ci95_mean(err**2, transform=np.sqrt), "mae": ci95_mean(np.abs(err))}
    print(f"mf on movies: {len(err):,} test ratings of {len(np.unique(test.users.numpy())):,} users")
    for name in ("rmse", "mae"):
        print(f"{name}: width over ratings {width(by_ratings[name]):.4f}, over users {width(by_users[name]):.4f}")


def speakers(store: RunStore) -> None:
    run = store.get(run_experiment(make_config("speech", dataset="commands", seed=0), store).run_id)
    art = store.load_artifacts(run["id"])
    right = art["probs"].argmax(1) == art["y_true"]
    print(f"{run['model']} on commands: {len(right)} test clips; {run['details']['ci95_note']}")
    wilson, by_speakers = ci95_accuracy(int(right.sum()), len(right)), run["details"]["ci95"]["accuracy"]
    widths = f"over clips (Wilson) {width(wilson):.4f}, over speakers {width(by_speakers):.4f}"
    print(f"accuracy {right.mean():.3f}: width {widths}")


def main() -> None:
    store = RunStore(tempfile.mkdtemp())
    ratings(store)
    speakers(store)


if __name__ == "__main__":
    main()

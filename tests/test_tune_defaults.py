"""scripts/tune_defaults.py: selection reads the validation split only, and the one-standard-error rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from core.config import fit_to_data, make_config
from core.tasks import get_task

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tune_defaults.py"


@pytest.fixture(scope="module")
def tune():
    spec = importlib.util.spec_from_file_location("tune_defaults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_selection_never_evaluates_on_the_test_split(tune, monkeypatch):
    task = get_task("image")

    def no_test(*args, **kwargs):
        raise AssertionError("selection evaluated a model on the test split")

    monkeypatch.setattr(task, "evaluate", no_test)
    base = {"device": "cpu", "split_seed": 0, "dataset": "digits", "max_batches": 1}
    data = task.load_data(make_config("image", **base))
    data.x["test"], data.y["test"] = data.x["test"][:0], data.y["test"][:0]  # nothing there to read, either
    report = tune.tune_model("image", "mlp", {"lr": (1e-3, 3e-3), "epochs": (1, 2)}, 2, {0: data}, base)
    assert len(report["rows"]) == 4 and report["key"] == "val_accuracy"
    assert report["chosen"] in report["rows"]
    assert all(0.0 <= r["val_mean"] <= 1.0 for r in report["rows"])


def test_several_splits_pool_their_runs_and_each_trains_on_its_own_split(tune, monkeypatch):
    task = get_task("image")
    base = {"device": "cpu", "split_seed": 0, "dataset": "digits", "max_batches": 1}
    splits = {s: task.load_data(make_config("image", **{**base, "split_seed": s})) for s in (0, 1)}
    assert not np.array_equal(splits[0].y["val"], splits[1].y["val"])  # two different validation splits
    seen = []

    def fit(config, data):
        seen.append((config["split_seed"], config["seed"], data))
        return {"final": {"val_accuracy": 0.5 + 0.25 * config["split_seed"], "val_loss": 1.0}, "seconds": 0.0,
                "steps": 1}  # fmt: skip

    monkeypatch.setattr(tune, "fit_on_validation", fit)
    report = tune.tune_model("image", "mlp", {"lr": (1e-3,)}, 2, splits, base)
    assert [(split, seed) for split, seed, _ in seen] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(data is splits[split] for split, _, data in seen)  # each run on the data of its own split
    row = report["rows"][0]
    assert row["runs"] == 4 and row["val_mean"] == pytest.approx(0.625)


def test_one_standard_error_rule_prefers_the_cheaper_setting_within_the_noise(tune):
    rows = [
        {"setting": {"epochs": 30}, "val_mean": 0.950, "val_std": 0.02, "val_loss": 0.2, "steps": 300},
        {"setting": {"epochs": 60}, "val_mean": 0.960, "val_std": 0.02, "val_loss": 0.2, "steps": 600},
        {"setting": {"epochs": 15}, "val_mean": 0.900, "val_std": 0.02, "val_loss": 0.3, "steps": 150},
    ]
    best, chosen = tune.choose(rows, 1, runs=3)  # one standard error: 0.02 / sqrt(3) = 0.0115
    assert best["steps"] == 600 and chosen["steps"] == 300
    best, chosen = tune.choose(rows, 1, runs=100)  # a tight estimate: the best wins
    assert chosen is best
    rmse = [dict(r, val_mean=1 - r["val_mean"]) for r in rows]  # lower is better
    assert tune.choose(rmse, -1, runs=3)[1]["steps"] == 300


def test_grid_points_reach_model_options(tune):
    settings = tune.as_settings("recsys", "bpr", {"lr": 1e-3, "reg": 0.0})
    assert settings == {"lr": 1e-3, "model_options": {"reg": 0.0}}
    assert make_config("recsys", "bpr", **settings)["model_options"] == {"reg": 0.0}


def test_a_grid_over_epochs_trains_the_epochs_it_names(tune):
    settings = tune.as_settings("speech", "crnn_attention", {"epochs": 90})
    assert settings == {"epochs": 90, "example_budget": 0}
    config = make_config("speech", "crnn_attention", **settings)
    assert fit_to_data(config, 1_000)[0]["epochs"] == 90  # the model's budget (20,000) would have made it 20
    assert tune.parse_grid(["example_budget=2e4,0"], "speech") == {"example_budget": (20_000, 0)}
    with pytest.raises(SystemExit, match="not a whole number"):
        tune.parse_grid(["epochs=2.5"], "speech")


def test_a_grid_takes_a_choices_names_and_refuses_a_mistyped_number(tune):
    assert tune.parse_grid(["schedule=constant,cosine"], "image") == {"schedule": ("constant", "cosine")}
    with pytest.raises(SystemExit, match="3e-e"):
        tune.parse_grid(["lr=3e-e"], "image")

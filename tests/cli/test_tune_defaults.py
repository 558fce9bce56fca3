"""scripts/tune_defaults.py: selection reads the validation split only, and the one-standard-error rule."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.run.config import fit_to_data, make_config
from core.tasks import get_task

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tune_defaults.py"


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
        seen.append((config.split_seed, config.seed, data))
        return {"final": {"val_accuracy": 0.5 + 0.25 * config.split_seed, "val_loss": 1.0}, "seconds": 0.0,
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


def test_the_standard_error_is_taken_run_for_run_so_a_hard_split_is_not_counted_as_noise(tune):
    """One held-out speaker scores 0.7 and another 1.0 for every setting: pooled, that spread would let a setting
    that is worse on every split through; run for run, the differences are what counts."""
    splits = {"0/0": 1.0, "1/0": 0.70, "2/0": 0.95, "0/1": 1.0, "1/1": 0.72, "2/1": 0.93}
    best = {"setting": {"epochs": 60}, "scores": splits, "val_loss": 0.2, "steps": 600}
    worse = {"setting": {"epochs": 30}, "scores": {k: v - 0.03 for k, v in splits.items()}, "val_loss": 0.3,
             "steps": 300}  # fmt: skip
    wobble = (0.04, -0.04, 0.04, -0.04, 0.03, -0.02)
    noisy = {"setting": {"epochs": 45}, "val_loss": 0.25, "steps": 450,
             "scores": {k: v - d for (k, v), d in zip(splits.items(), wobble)}}  # fmt: skip
    rows = [best, worse, noisy]
    for r in rows:
        values = list(r["scores"].values())
        r["val_mean"], r["val_std"] = statistics.mean(values), statistics.stdev(values)
    pooled = [{k: v for k, v in r.items() if k != "scores"} for r in rows]
    assert tune.choose(pooled, 1, runs=6)[1]["steps"] == 300  # the split-to-split spread (0.13) passes for noise
    best_row, chosen = tune.choose(rows, 1, runs=6)
    assert best_row is best and chosen is noisy  # -0.03 on every run is a real loss; noisy's gap is within its SE


def test_split_seeds_that_give_the_same_validation_split_are_left_out(tune, capsys):
    fixed = SimpleNamespace(files={"val": ["a/1.wav", "b/2.wav"]})
    same = SimpleNamespace(files={"val": ["a/1.wav", "b/2.wav"]})
    other = SimpleNamespace(files={"val": ["a/3.wav", "b/4.wav"]})
    assert list(tune.distinct_splits({0: fixed, 1: same, 2: other})) == [0, 2]
    assert "split 1: the same validation split as split 0" in capsys.readouterr().out
    torch = pytest.importorskip("torch")
    image = {s: SimpleNamespace(x={"val": torch.full((2, 1, 2, 2), float(v))}, y={"val": torch.tensor([0, 1])})
             for s, v in ((0, 0.5), (1, 0.5), (2, 0.25))}  # fmt: skip
    assert list(tune.distinct_splits(image)) == [0, 2]  # by content, for every task, not only speech


def test_time_protocol_recommendation_splits_are_the_same_for_every_seed_and_kept_once(tune):
    task = get_task("recsys")
    base = {"device": "cpu", "dataset": "movies", "protocol": "time"}
    splits = {s: task.load_data(make_config("recsys", "pop", **base, split_seed=s)) for s in (0, 1)}
    assert list(tune.distinct_splits(splits)) == [0]
    base["protocol"] = "random"
    splits = {s: task.load_data(make_config("recsys", "pop", **base, split_seed=s)) for s in (0, 1)}
    assert list(tune.distinct_splits(splits)) == [0, 1]


def _row(setting: dict, sets: dict[str, list[float]], steps: int = 100, seconds: float = 1.0) -> dict:
    by_set = {n: {f"{i}/0": v for i, v in enumerate(values)} for n, values in sets.items()}
    pooled = [v for values in sets.values() for v in values]
    return {
        "setting": setting,
        "sets": by_set,
        "set_means": {n: statistics.mean(v) for n, v in sets.items()},
        "scores": {f"{n}/{k}": v for n, r in by_set.items() for k, v in r.items()},
        "val_mean": statistics.mean(pooled),
        "val_std": statistics.stdev(pooled),
        "runs": len(pooled),
        "val_loss": 0.1,
        "steps": steps,
        "seconds": seconds,
    }


def test_the_worst_set_rule_does_not_let_one_sets_gain_hide_anothers_loss(tune):
    """Setting x is best on the large easy set and 0.2 behind on the small hard one: pooled over runs it wins,
    by the worst set it loses to y, which is never more than 0.03 behind anywhere."""
    x = _row({"epochs": 15}, {"digits": [1.0] * 20, "faces": [0.69, 0.71]})
    y = _row({"epochs": 60}, {"digits": [0.97] * 20, "faces": [0.89, 0.91]}, steps=400)
    assert max([x, y], key=lambda r: r["val_mean"]) is x  # the pooled mean would pick x
    assert tune.regret(x, [x, y], 1) == pytest.approx(0.2) and tune.regret(y, [x, y], 1) == pytest.approx(0.03)
    best, chosen = tune.choose_robust([x, y], 1)
    assert best is y and chosen is y


def test_the_worst_set_rule_takes_the_cheaper_setting_within_the_noise_on_every_set(tune):
    best = _row({"epochs": 60}, {"a": [0.90, 0.94, 0.92], "b": [0.80, 0.84, 0.82]}, steps=600)
    cheap = _row({"epochs": 30}, {"a": [0.92, 0.91, 0.92], "b": [0.82, 0.81, 0.83]}, steps=300)  # noise only
    worse_on_b = _row({"epochs": 15}, {"a": [0.95, 0.95, 0.95], "b": [0.70, 0.74, 0.72]}, steps=150)
    assert tune.choose_robust([best, cheap, worse_on_b], 1)[1] is cheap
    cheap["over_budget"] = True  # too slow on some set: never chosen while another row is in time
    assert tune.choose_robust([best, cheap, worse_on_b], 1)[1] is best


def test_the_default_model_is_chosen_by_the_same_rule(tune):
    reports = [
        {"model": "crnn", "chosen": _row({}, {"own": [0.95, 0.96], "loso": [0.55, 0.57]})},
        {"model": "dscnn", "chosen": _row({}, {"own": [0.99, 1.00], "loso": [0.64, 0.66]})},
    ]
    verdict = tune.choose_model(reports, 1)
    assert verdict["chosen"] == "dscnn" and verdict["regret"]["crnn"] == pytest.approx(0.09)


def test_several_sets_each_train_on_their_own_data_and_are_scored_apart(tune, monkeypatch):
    base = {"device": "cpu", "dataset": None, "data": None, "max_batches": 1}
    sets = tune.parse_sets("image", ["digits", "shapes"], base, [0, 1])
    assert list(sets) == ["digits", "shapes"] and all(len(s) == 2 for s in sets.values())
    seen = []

    def fit(config, data):
        seen.append((config.dataset, data.meta["dataset"], config.split_seed))
        score = {"digits": 0.9, "shapes": 0.6}[config.dataset] + 0.01 * config.lr * 1000
        return {"final": {"val_accuracy": score, "val_loss": 1.0}, "seconds": 0.1, "steps": 1}

    monkeypatch.setattr(tune, "fit_on_validation", fit)
    report = tune.tune_model("image", "mlp", {"lr": (1e-3, 2e-3)}, 1, sets, base)
    assert all(given == loaded for given, loaded, _ in seen)  # each run on its own set's data
    assert sorted({s for *_, s in seen}) == [0, 1]
    row = report["rows"][1]
    assert row["set_means"] == {"digits": pytest.approx(0.92), "shapes": pytest.approx(0.62)}
    assert report["best"] is row


def test_grid_points_reach_model_options(tune):
    settings = tune.as_settings("recsys", "bpr", {"lr": 1e-3, "reg": 0.0})
    assert settings == {"lr": 1e-3, "model_options": {"reg": 0.0}}
    assert make_config("recsys", "bpr", **settings).model_options == {"reg": 0.0}


def test_a_grid_over_epochs_trains_the_epochs_it_names(tune):
    settings = tune.as_settings("speech", "crnn_attention", {"epochs": 90})
    assert settings == {"epochs": 90, "example_budget": 0, "min_steps": 0}
    config = make_config("speech", "crnn_attention", **settings)
    assert fit_to_data(config, 1_000)[0].epochs == 90  # the model's budget (24,000) would have made it 24
    assert tune.parse_grid(["example_budget=2e4,0"], "speech") == {"example_budget": (20_000, 0)}
    with pytest.raises(SystemExit, match="not a whole number"):
        tune.parse_grid(["epochs=2.5"], "speech")


def test_a_grid_takes_a_choices_names_and_refuses_a_mistyped_number(tune):
    assert tune.parse_grid(["schedule=constant,cosine"], "image") == {"schedule": ("constant", "cosine")}
    with pytest.raises(SystemExit, match="3e-e"):
        tune.parse_grid(["lr=3e-e"], "image")

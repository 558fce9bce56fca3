"""Fair races: each variant's runs search their learning rate on the validation split, then train at the best."""

import json
import threading

import pytest
import torch
from torch import nn

from core.lab.whatif import at_best_lr, expand
from core.run.config import make_config
from core.run.lr_search import OWN_LR_NOTE, SEARCH_EXTEND, best_lr, ladder, search_grid, search_lr
from core.run.store import RunStore
from core.run.training import Callback, StopFlag, TensorClassification

TINY = ("--epochs", "1", "--max-batches", "2")


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two well-separated Gaussian blobs in 4 dimensions: class 1 around +1, class 0 around -1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    return torch.randn(n, 4, generator=g) * 0.5 + (2 * y[:, None] - 1).float(), y


def wrong_way_linear() -> nn.Linear:
    """A linear classifier that starts predicting the opposite class everywhere: it takes a real step size to fix."""
    model = nn.Linear(4, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0] * 4, [-1.0] * 4]))
        model.bias.zero_()
    return model


def search_on(val_labels_flipped: bool) -> dict:
    x_train, y_train = blobs(256, 0)
    x_val, y_val = blobs(128, 1)
    if val_labels_flipped:
        y_val = 1 - y_val
    objective = TensorClassification(x_train, y_train, x_val, y_val)
    config = make_config("image", "mlp", optimizer="sgd", epochs=10, batch_size=32, lr_search=[1e-6, 0.5])
    config, record = search_lr(config, lambda c: (wrong_way_linear(), objective), StopFlag())
    assert config.lr == record["chosen"] and config.lr_search == []
    return record


def test_the_search_picks_the_learning_rate_that_scores_best_on_validation():
    record = search_on(val_labels_flipped=False)
    assert record["metric"] == "val_accuracy" and record["epochs"] == 2  # a fifth of the epochs
    scores = {t["lr"]: t["score"] for t in record["tried"]}
    assert scores[1e-6] < 0.1 and scores[0.5] > 0.9  # too small to undo the wrong start; large enough
    # the best was the highest tried: the search went on past it, half a decade at a time
    assert list(scores)[:3] == [1e-6, 0.5, 1.0] and len(scores) <= 2 + SEARCH_EXTEND
    assert scores[record["chosen"]] == max(scores.values()) and record["complete"]
    # validation, not training, decides: with the validation labels flipped the rate that learned nothing wins
    flipped = search_on(val_labels_flipped=True)
    assert flipped["chosen"] == 1e-6 and len(flipped["tried"]) == 2  # nothing below the lowest lr a run may take
    assert {t["lr"]: t["score"] for t in flipped["tried"]}[1e-6] > 0.9


def test_ties_go_to_the_lower_validation_loss_and_diverged_rates_never_win():
    tried = [
        {"lr": 0.1, "score": 0.9, "val_loss": 0.3},
        {"lr": 0.3, "score": 0.9, "val_loss": 0.2},
        {"lr": 1.0, "score": None, "diverged": True},
    ]
    assert best_lr(tried, higher_is_better=True) == 0.3
    assert best_lr([{"lr": 0.1, "score": 0.8}, {"lr": 0.3, "score": 0.9}], higher_is_better=False) == 0.1  # RMSE
    assert best_lr(tried[2:], higher_is_better=True) is None


def test_the_grid_is_centred_for_the_optimizer():
    assert ladder(0.09) == 0.1 and ladder(0.0031) == 0.003 and ladder(1.6e-3) == 1e-3
    # Adam's 3e-3 suits Adam: the search stays around it; plain SGD's centre is 30 times higher
    assert search_grid(3e-3, "adam", "adam") == [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    assert search_grid(3e-3, "sgd", "adam") == [0.01, 0.03, 0.1, 0.3, 1.0]
    assert search_grid(0.1, "adam", "sgd") == [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]


def test_a_race_searches_only_when_what_varies_moves_the_learning_rate():
    base = make_config("image", "cnn_bn")
    plan = expand(base, {"optimizer": ["sgd", "adam"]}, 2, lr_search=True)
    grids = {v.label: [c.lr_search for c in v.configs] for v in plan.variants}
    assert grids["SGD"] == [search_grid(base.lr, "sgd", "adam")] * 2 and plan.search_runs == 20
    assert not expand(base, {"optimizer": ["sgd", "adam"]}, 2).search_runs  # --same-lr, the toggle off
    assert not expand(base, {"lr": [1e-3, 1e-2]}, 1, lr_search=True).search_runs  # the race sets the lr itself
    assert expand(base, {"batch_norm": [False, True]}, 1, lr_search=True).search_runs == 10
    recsys = expand(make_config("recsys", "pop"), {"model": ["pop", "bpr"]}, 1, lr_search=True)
    assert [len(v.configs[0].lr_search) for v in recsys.variants] == [0, 5]  # closed form: nothing to search
    assert at_best_lr("SGD", [0.1, 0.1]) == "SGD at its best lr 0.1"
    assert at_best_lr("SGD", [0.3, 0.1]) == "SGD at its best lr 0.1 or 0.3 (by seed)" and at_best_lr("SGD", []) == "SGD"


def test_a_run_searches_on_validation_then_trains_once_at_the_best(tmp_path, monkeypatch):
    from core.run.experiment import run_experiment
    from core.tasks import get_task

    task, tested = get_task("image"), []
    real_evaluate = task.evaluate
    monkeypatch.setattr(task, "evaluate", lambda *a: tested.append(1) or real_evaluate(*a))
    settings = {"epochs": 5, "max_batches": 3, "optimizer": "sgd", "baseline": False}
    config = make_config("image", "mlp", **settings, lr_search=[1e-3, 1e-2, 0.1])
    result = run_experiment(config, RunStore(tmp_path))
    record = result.details["lr_search"]
    assert [t["lr"] for t in record["tried"]][:3] == [1e-3, 1e-2, 0.1] and record["epochs"] == 1
    assert result.config.lr == record["chosen"] and result.config.lr_search == []
    assert len(result.history) == 5 and tested == [1]  # the real run's epochs only; the test split read once
    stored = RunStore(tmp_path).get(result.run_id)
    assert stored["config"].lr == record["chosen"] and stored["details"]["lr_search"] == record


def test_stop_during_the_search_stops_the_run(tmp_path):
    from core.run.experiment import run_experiment

    stop = threading.Event()

    class StopAtFirstSearchEpoch(Callback):
        def on_lr_search(self, done, total):
            stop.set()

    config = make_config("image", "mlp", epochs=5, max_batches=3, optimizer="sgd", lr_search=[1e-3, 1e-2, 0.1])
    result = run_experiment(config, RunStore(tmp_path), callbacks=[StopAtFirstSearchEpoch()], stop_event=stop)
    assert result.status == "stopped" and len(result.history) <= 1
    assert not result.details["lr_search"]["complete"]


def test_cli_race_trains_each_variant_at_its_best_lr(tmp_path, capsys):
    from core.cli import main

    args = ["race", "image", "--vary", "optimizer=sgd,adam", "--model", "mlp", *TINY, "--runs", str(tmp_path)]
    assert main([*args, "--json"]) == 0
    out, err = capsys.readouterr()
    race = json.loads(out.strip().splitlines()[-1])
    assert [v["label"] for v in race["variants"]] == ["SGD", "Adam"]
    for v in race["variants"]:
        (record,) = v["lr_search"]
        assert v["shown"] == f"{v['label']} at its best lr {record['chosen']:g}"
        assert 5 <= len(record["tried"]) <= 5 + SEARCH_EXTEND and record["metric"] == "val_accuracy"
        stored = RunStore(tmp_path).get(v["runs"][0])
        assert stored["config"].lr == record["chosen"]
    assert "at its best lr" in race["verdict"] and OWN_LR_NOTE in out and "at its best lr" in out.splitlines()[1]
    assert "10 short runs on the validation split" in err and "tried on the validation split for 1 epoch each" in err


def test_cli_race_same_lr_trains_every_variant_at_the_base_lr(tmp_path, capsys):
    from core.cli import main

    args = ["race", "image", "--vary", "optimizer=sgd,adam", "--model", "mlp", *TINY, "--runs", str(tmp_path)]
    assert main([*args, "--same-lr", "--json", "--lr", "0.01"]) == 0
    race = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [v["shown"] for v in race["variants"]] == ["SGD", "Adam"]
    assert all(v["lr_search"] == [] for v in race["variants"]) and "at its best lr" not in race["verdict"]
    assert {r["config"].lr for r in RunStore(tmp_path).list()} == {0.01}


@pytest.mark.parametrize("vary", ["lr=0.001,0.01", "init_from=scratch"])
def test_cli_race_over_what_does_not_move_the_lr_searches_nothing(tmp_path, capsys, vary):
    from core.cli import main

    args = ["race", "image", "--vary", vary, "--model", "mlp", *TINY, "--runs", str(tmp_path), "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "short runs" not in err and OWN_LR_NOTE not in out


def test_stop_in_a_worker_process_ends_the_search_and_the_run(tmp_path):
    """The page's Stop: the job shows the search's progress, and Stop ends the search and the run after it."""
    from core.exec.jobs import JobManager
    from tests.support.waiting import wait_for

    jobs = JobManager(RunStore(tmp_path), max_workers=1)
    try:  # 500 epochs of batches of 8: each short run would take 100 epochs, far longer than the test
        config = make_config("image", "mlp", epochs=500, batch_size=8, optimizer="sgd", lr_search=[0.01, 0.1])
        job = jobs.submit(config)
        wait_for(lambda: (job.snapshot()["searched"] or (0, 0))[0] >= 1, timeout=60, poll=0.05)
        assert job.snapshot()["searched"][1] == 2 * 100 and job.snapshot()["epoch"] == 0  # nothing trained for real
        jobs.stop(job.id)
        jobs.wait(job.id, timeout=30)
        assert job.status == "stopped"
        run = jobs.store.get(job.run_id)
        assert run["status"] == "stopped" and not run["details"]["lr_search"]["complete"]
        assert len(jobs.store.history(job.run_id)) <= 1  # the real run stopped at its first batch
    finally:
        jobs.shutdown()

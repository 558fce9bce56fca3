"""Run store: persistence across restarts, interrupted and failed runs, checkpoints, deletion; on SQLite and on
PostgreSQL (the `store_url` fixture)."""

import json
import time

import pytest
import sqlalchemy as sa
import torch

from core.data import DataError
from core.run.command import command_for
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import RunStore


def test_a_run_survives_a_restart(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    result = run_experiment(make_config("image", "mlp", epochs=2, max_batches=2), store)
    again = RunStore(tmp_path, db_url=store_url)
    run = again.get(result.run_id)
    assert run["status"] == "finished"
    assert run["metrics"]["accuracy"] == result.metrics["accuracy"]
    assert [h["epoch"] for h in again.history(result.run_id)] == [1, 2]
    assert run["config"]["model"] == "mlp"
    assert again.load_artifacts(result.run_id)["probs"].shape[1] == 10


def test_a_run_stored_by_an_older_version_still_opens_as_a_run_config(tmp_path):
    """A stored config that lacks a newer setting (`split_seed`: such runs split by their seed) and holds one that
    no longer exists loads, with the missing setting at its default and the removed one dropped."""
    store = RunStore(tmp_path)
    run_id = store.create("image", make_config("image", "mlp"))
    newer = ("split_seed", "protocol")
    old = {k: v for k, v in make_config("image", "mlp", seed=7).to_dict().items() if k not in newer}
    stored = json.dumps({**old, "colour": "red"})
    with store._connect() as db:
        db.execute(sa.text("UPDATE runs SET config=:c WHERE id=:id"), {"c": stored, "id": run_id})
    config = RunConfig.from_dict(store.get(run_id)["config"])
    assert config == make_config("image", "mlp", seed=7, split_seed=7)
    assert command_for(config).startswith("python -m core train image --model mlp")


def test_run_left_running_by_a_dead_process_is_marked_interrupted(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    run_id = store.create("image", RunConfig(task="image", model="cnn"))
    with store._connect() as db:
        db.execute(sa.text("UPDATE runs SET pid=999999999 WHERE id=:id"), {"id": run_id})
    RunStore(tmp_path, db_url=store_url)
    run = store.get(run_id)
    assert run["status"] == "interrupted"
    assert "ended before it finished" in run["error"]


def test_a_failed_run_says_why_and_others_are_kept(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    good = run_experiment(make_config("image", "mlp", epochs=1, max_batches=1), store)
    with pytest.raises(DataError):
        run_experiment(make_config("image", "mlp", data=str(tmp_path / "missing")), store)
    failed = [r for r in store.list() if r["status"] == "failed"]
    assert len(failed) == 1 and "no such file" in failed[0]["error"]
    assert store.get(good.run_id)["status"] == "finished"


def test_checkpoint_is_a_plain_dict_loaded_with_weights_only(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    result = run_experiment(make_config("image", "cnn", epochs=1, max_batches=1), store)
    path = store.run_dir(result.run_id) / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt) >= {"model", "optimizer", "config", "epoch", "meta"}
    assert ckpt["epoch"] == 1


def test_delete_removes_row_history_and_files(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    result = run_experiment(make_config("image", "mlp", epochs=1, max_batches=1), store)
    store.delete(result.run_id)
    assert store.get(result.run_id) is None
    assert store.history(result.run_id) == []
    assert not store.run_dir(result.run_id).exists()


def test_list_filters_by_task_newest_first(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    a = store.create("image", RunConfig(task="image", model="a"))
    time.sleep(0.01)
    b = store.create("image", RunConfig(task="image", model="b"))
    store.create("speech", RunConfig(task="speech", model="c"))
    assert [r["id"] for r in store.list("image")] == [b, a]

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
    assert run["config"].model == "mlp"
    assert again.load_artifacts(result.run_id)["probs"].shape[1] == 10


def test_the_store_hands_back_the_run_config_it_stored(tmp_path, store_url):
    """The config travels typed: saved as a RunConfig, read back (get and list) as an equal RunConfig."""
    store = RunStore(tmp_path, db_url=store_url)
    config = make_config("image", "mlp", seed=3, augment={"shift": 0.1})
    run_id = store.create("image", config)
    assert isinstance(store.get(run_id)["config"], RunConfig)
    assert store.get(run_id)["config"] == config
    assert [r["config"] for r in store.list()] == [config]


def test_a_run_stored_by_an_older_version_still_opens_as_a_run_config(tmp_path):
    """A stored config that lacks a newer setting (`split_seed`: such runs split by their seed), holds one that
    no longer exists and keeps `freeze_backbone` among its model options reads back as a RunConfig: the missing
    setting at its default, the removed one dropped, the model option the setting."""
    store = RunStore(tmp_path)
    run_id = store.create("image", make_config("image", "resnet18"))
    newer = ("split_seed", "protocol", "freeze_backbone")
    old = {k: v for k, v in make_config("image", "resnet18", seed=7).to_dict().items() if k not in newer}
    stored = json.dumps({**old, "colour": "red", "model_options": {"freeze_backbone": True}})
    with store._connect() as db:
        db.execute(sa.text("UPDATE runs SET config=:c WHERE id=:id"), {"c": stored, "id": run_id})
    config = store.get(run_id)["config"]
    assert config == make_config("image", "resnet18", seed=7, split_seed=7, freeze_backbone=True)
    assert store.list()[0]["config"] == config
    assert command_for(config).startswith("python -m core train image --model resnet18")


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

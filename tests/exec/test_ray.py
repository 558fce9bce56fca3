"""The Ray backend on a local Ray started once for this module: a race and a run through the CLI, stop, and the
message without Ray installed."""

import json
import sys
import time

import pytest

from core.cli import main
from core.exec.jobs import JobManager
from core.run.config import make_config
from core.run.store import RunStore

TINY = ["--model", "mlp", "--epochs", "1", "--max-batches", "2"]


def test_without_ray_choosing_it_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        pytest.skip("Ray is already running in this process")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    assert main(["train", "image", *TINY, "--backend", "ray", "--runs", str(tmp_path)]) == 2
    assert "error: Ray is not installed: pip install -r requirements-ray.txt" in capsys.readouterr().err
    assert not RunStore(tmp_path).list()  # nothing was queued


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    from core.exec.ray_jobs import connect

    connect("local")  # 2 CPUs: two tasks at once
    yield ray
    ray.shutdown()


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_race_runs_as_ray_tasks_and_lands_in_the_store(local_ray, tmp_path, capsys):
    args = ["race", "image", "--vary", "optimizer=sgd,adam", "--seeds", "1", *TINY, "--backend", "ray", "--json"]
    assert main([*args, "--runs", str(tmp_path)]) == 0
    race = last_json(capsys)
    assert race["backend"] == "ray" and [v["label"] for v in race["variants"]] == ["SGD", "Adam"]
    store = RunStore(tmp_path)
    for variant in race["variants"]:
        (run_id,) = variant["runs"]
        run = store.get(run_id)  # written here, by the driver, from what the task sent back
        assert run["status"] == "finished" and run["metrics"]["accuracy"] == variant["mean"]
        assert [h["epoch"] for h in store.history(run_id)] == [1]
        assert store.load_checkpoint(run_id)["model"] and store.load_artifacts(run_id)["probs"].shape[1] == 10
        (search,) = variant["lr_search"]  # each variant at its own best lr: the search came back with the task
        assert run["details"]["lr_search"] == search and run["config"].lr == search["chosen"]


def test_a_run_on_ray_prints_the_json_line_and_stops_when_asked(local_ray, tmp_path, capsys):
    assert main(["train", "image", *TINY, "--backend", "ray", "--runs", str(tmp_path), "--json"]) == 0
    line = last_json(capsys)
    assert line["backend"] == "ray" and line["status"] == "finished" and line["world_size"] == 1
    assert RunStore(tmp_path).get(line["run_id"])["status"] == "finished"

    jobs = JobManager(RunStore(tmp_path), backend="ray")
    try:
        assert jobs.max_workers == 2
        job = jobs.submit(make_config("image", "mlp", epochs=500, batch_size=8))
        deadline = time.time() + 60
        while not (job.status == "running" and job.batch > 0) and time.time() < deadline:
            time.sleep(0.05)
        asked = time.time()
        jobs.stop(job.id)
        jobs.wait(job.id, 30)
        assert job.status == "stopped" and time.time() - asked < 3
        assert jobs.store.get(job.run_id)["status"] == "stopped"
    finally:
        jobs.shutdown()


def test_a_run_on_ray_lands_in_a_postgresql_store(local_ray, postgres_cluster, tmp_path, capsys):
    """A team's store (docs/serving_team.md): the driver writes what the Ray task sends back to PostgreSQL."""
    url = postgres_cluster.url()
    assert main(["train", "image", *TINY, "--backend", "ray", "--runs", str(tmp_path), "--db-url", url, "--json"]) == 0
    run_id = last_json(capsys)["run_id"]
    store = RunStore(tmp_path / "another-host", db_url=url)
    assert store.get(run_id)["status"] == "finished" and [h["epoch"] for h in store.history(run_id)] == [1]
    assert not (tmp_path / "runs.db").exists()  # nothing went to the folder's SQLite store

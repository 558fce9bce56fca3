"""A run store for a team: one database that many processes and machines write at once (SQLite and PostgreSQL),
Alembic migrations from stores made before Alembic, the database's clock for heartbeats, artifacts at an fsspec
URL, and the CLI, workers and torchrun ranks on a named database."""

import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from core.cli import main
from core.exec.jobs import JobManager
from core.run.artifacts import ArtifactStore
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import HOST, STALE_AFTER, RunStore

ROOT = Path(__file__).resolve().parents[2]
WRITERS, RUNS_EACH = 4, 50


@pytest.fixture
def shared_url(tmp_path, store_url):
    """One database URL every process names: a SQLite file, or a fresh PostgreSQL database."""
    return store_url or f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def pg_url(postgres_cluster):
    yield postgres_cluster.url()
    from core.run.store import forget_engines

    forget_engines()


def _write_runs(root, db_url, start, count):
    """One writer (an app server or a CLI user on its own machine: its own folder, the one database)."""
    start.wait(30)
    store = RunStore(root, db_url=db_url)
    for i in range(count):
        run_id = store.create(
            "image", RunConfig(task="image", model="mlp", data=f"writer{os.getpid()}", seed=i), status="queued"
        )
        store.set_status(run_id, "running")
        for epoch in (1, 2):
            store.log_epoch(run_id, {"epoch": epoch, "loss": 1.0 / epoch})
        store.finish(run_id, "finished", {"accuracy": i / count}, {}, 0.1)


@pytest.mark.slow
def test_four_writers_at_once_into_one_store_lose_nothing(tmp_path, shared_url):
    """4 processes × 50 runs, starting together on a database nobody has opened yet (so they also race to create
    the schema): every run, status and epoch lands."""
    ctx = mp.get_context("fork")
    start = ctx.Event()
    writers = [
        ctx.Process(target=_write_runs, args=(tmp_path / f"host{i}", shared_url, start, RUNS_EACH))
        for i in range(WRITERS)
    ]
    for w in writers:
        w.start()
    start.set()
    for w in writers:
        w.join(240)
    assert [w.exitcode for w in writers] == [0] * WRITERS
    store = RunStore(tmp_path / "reader", db_url=shared_url)
    runs = store.list()
    assert len(runs) == WRITERS * RUNS_EACH and len({r["id"] for r in runs}) == WRITERS * RUNS_EACH
    assert {r["status"] for r in runs} == {"finished"}
    by_writer = {w.pid: sorted(r["config"].seed for r in runs if r["config"].data == f"writer{w.pid}") for w in writers}
    assert all(done == list(range(RUNS_EACH)) for done in by_writer.values())
    assert all([h["epoch"] for h in store.history(r["id"])] == [1, 2] for r in runs)


def test_heartbeats_and_staleness_read_the_databases_clock(tmp_path, store_url, monkeypatch):
    """A machine whose clock is an hour fast writes heartbeats by the database's clock, and a run another machine
    beats for now stays running to a machine whose clock is off by more than STALE_AFTER."""
    store = RunStore(tmp_path, db_url=store_url)
    run_id = store.create("image", RunConfig(task="image", model="mlp"))
    real = time.time
    monkeypatch.setattr("core.run.store.time.time", lambda: real() + 3600)
    store.beat(run_id)
    store.log_epoch(run_id, {"epoch": 1})
    assert abs(store.get(run_id)["heartbeat"] - real()) < 5
    assert abs(store.get(run_id)["created"] - real()) < 5
    with store._connect() as db:  # the run now belongs to another machine, which beat a moment ago
        other = {"host": f"not-{HOST}", "id": run_id}
        db.execute(sa.text("UPDATE runs SET host=:host, pid=999999999 WHERE id=:id"), other)
    monkeypatch.setattr("core.run.store.time.time", lambda: real() + 2 * STALE_AFTER)
    RunStore(tmp_path, db_url=store_url)  # marks orphans
    assert store.get(run_id)["status"] == "running"


def test_a_store_made_before_alembic_is_upgraded_by_the_migrations(tmp_path):
    """A runs.db of the hand-written schema that gained pid_start (one of the columns added when opened), but not
    host and heartbeat: opened, it is stamped at the newest revision with every column, its runs kept."""
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, task TEXT NOT NULL, dataset TEXT, model TEXT, status TEXT NOT "
            "NULL, config TEXT NOT NULL, metrics TEXT, details TEXT, created REAL NOT NULL, finished REAL, seconds "
            "REAL, error TEXT, pid INTEGER, pid_start INTEGER)"
        )
        db.execute(
            "CREATE TABLE history (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT "
            "NULL, logs TEXT NOT NULL, PRIMARY KEY (run_id, epoch))"
        )
        db.execute("INSERT INTO runs (id, task, status, config, created) VALUES ('old', 'image', 'finished', '{}', 1)")
        db.execute("INSERT INTO history VALUES ('old', 1, '{\"epoch\": 1, \"loss\": 0.5}')")
    store = RunStore(tmp_path)
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    assert columns[-3:] == ["pid_start", "host", "heartbeat"] and columns.count("pid_start") == 1
    assert store.get("old")["status"] == "finished" and store.history("old") == [{"epoch": 1, "loss": 0.5}]
    assert store.get(store.create("image", RunConfig(task="image", model="mlp")))["host"] == HOST
    RunStore(tmp_path)  # at the newest revision: opens without migrating again


def test_the_same_schema_on_both_databases(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    inspector = sa.inspect(store._engine)
    assert {c["name"] for c in inspector.get_columns("runs")} >= {"id", "status", "pid_start", "host", "heartbeat"}
    assert inspector.get_pk_constraint("history")["constrained_columns"] == ["run_id", "epoch"]
    with store._connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"


def test_a_bad_or_unreachable_database_url_is_named(tmp_path):
    with pytest.raises(ValueError, match="not a database URL"):
        RunStore(tmp_path, db_url="no-scheme-here")
    with pytest.raises(ValueError, match="sqlite:/// and postgresql:// only"):
        RunStore(tmp_path, db_url="mysql://u@h/db")
    with pytest.raises(ValueError, match=r"run store postgresql\+psycopg://team:\*\*\*@127.0.0.1:9/runs"):
        RunStore(tmp_path, db_url="postgresql://team:secret@127.0.0.1:9/runs")  # nothing listens on port 9


# ---------------------------------------------------------------- artifacts


def test_artifacts_stay_in_the_run_folder_by_default(tmp_path):
    store = RunStore(tmp_path)
    result = run_experiment(make_config("image", "mlp", epochs=1, max_batches=1), store)
    folder = tmp_path / result.run_id
    assert sorted(p.name for p in folder.iterdir()) == ["artifacts.npz", "checkpoint.pt"]
    assert store.artifacts.list(result.run_id) == ["artifacts.npz", "checkpoint.pt"]
    assert store.read_file(result.run_id, "checkpoint.pt") == (folder / "checkpoint.pt").read_bytes()


def test_a_run_with_its_artifacts_at_an_fsspec_url(tmp_path, monkeypatch):
    """DLSTUDIO_ARTIFACTS_URL (here fsspec's memory filesystem) holds the checkpoint and predictions; the folder
    holds none of them."""
    url = f"memory://dlstudio-{uuid.uuid4().hex}"
    monkeypatch.setenv("DLSTUDIO_ARTIFACTS_URL", url)
    store = RunStore(tmp_path)
    result = run_experiment(make_config("image", "mlp", epochs=1, max_batches=1), store)
    assert not (tmp_path / result.run_id / "checkpoint.pt").exists()
    assert store.artifacts.list(result.run_id) == ["artifacts.npz", "checkpoint.pt"]
    again = RunStore(tmp_path / "elsewhere", artifacts_url=url)  # another machine naming the same place
    assert again.load_checkpoint(result.run_id)["epoch"] == 1
    assert again.load_artifacts(result.run_id)["probs"].shape[1] == 10
    (tmp_path / "model.onnx").write_bytes(b"onnx bytes")
    store.keep_file(result.run_id, tmp_path / "model.onnx")
    assert again.read_file(result.run_id, "model.onnx") == b"onnx bytes"
    store.delete(result.run_id)
    assert again.artifacts.list(result.run_id) == [] and again.read_file(result.run_id, "checkpoint.pt") is None


@pytest.mark.parametrize("where", ["folder", "memory"])
def test_a_write_that_fails_leaves_the_last_good_file(tmp_path, where):
    artifacts = ArtifactStore(tmp_path if where == "folder" else f"memory://dlstudio-{uuid.uuid4().hex}")
    with artifacts.writing("r1", "checkpoint.pt") as path:
        torch.save({"w": 1}, path)
    with pytest.raises(RuntimeError), artifacts.writing("r1", "checkpoint.pt") as path:
        path.write_bytes(b"half a checkpoint")
        raise RuntimeError("killed mid-save")
    with artifacts.open("r1", "checkpoint.pt") as f:
        assert torch.load(f, weights_only=True) == {"w": 1}
    assert artifacts.list("r1") == ["checkpoint.pt"]


# ---------------------------------------------------------------- the CLI, workers and torchrun on a named store


def test_cli_trains_into_and_lists_a_named_database(tmp_path, shared_url, capsys):
    """`train --db-url` on one machine, `runs --db-url` on another (another folder): the run is there."""
    assert main(["train", "recsys", "--model", "pop", "--runs", str(tmp_path / "a"), "--db-url", shared_url]) == 0
    assert "DLSTUDIO_DB_URL" not in os.environ  # the flag is this command's, not the calling process's
    capsys.readouterr()
    assert main(["runs", "--runs", str(tmp_path / "b"), "--db-url", shared_url, "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert run["model"] == "pop" and run["status"] == "finished"
    assert main(["runs", "--runs", str(tmp_path / "a"), "--json"]) == 0  # its own folder holds no store
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == []


@pytest.mark.slow
def test_a_worker_process_writes_to_the_managers_database(tmp_path, pg_url):
    jobs = JobManager(RunStore(tmp_path, db_url=pg_url), max_workers=1)
    try:
        job = jobs.submit(make_config("image", "mlp", epochs=1, max_batches=2))
        jobs.wait(job.id, 120)
        assert job.status == "finished", job.error
        run = RunStore(tmp_path / "elsewhere", db_url=pg_url).get(job.run_id)
        assert run["status"] == "finished" and run["pid"] != os.getpid()
        assert not (tmp_path / "runs.db").exists()
    finally:
        jobs.shutdown()


@pytest.mark.slow
def test_a_torchrun_run_lands_in_a_postgresql_store(tmp_path, pg_url):
    cmd = [sys.executable, "-m", "core", "train", "image", "--model", "mlp", "--epochs", "1", "--max-batches", "2"]
    cmd += ["--nproc-per-node", "2", "--runs", str(tmp_path), "--db-url", pg_url, "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["world_size"] == 2
    store = RunStore(tmp_path / "reader", db_url=pg_url)
    assert [r["id"] for r in store.list()] == [result["run_id"]] and store.get(result["run_id"])["status"] == "finished"
    assert len(store.history(result["run_id"])) == 1

"""Faults: a killed worker, a killed CLI, a reused pid, a kill mid-checkpoint, and two processes writing one store."""

import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from core.cli import main
from core.exec.jobs import JobManager
from core.run.config import make_config
from core.run.settings import RunConfig
from core.run.store import HOST, STALE_AFTER, RunStore, process_start
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")


def long_running():
    return make_config("image", "mlp", epochs=500, batch_size=8)


def test_a_killed_worker_fails_its_run_with_a_message_and_the_queue_goes_on(tmp_path):
    jobs = JobManager(RunStore(tmp_path), max_workers=1)
    try:
        doomed = jobs.submit(long_running())
        after = jobs.submit(make_config("image", "mlp", epochs=1, max_batches=2))
        wait_for(lambda: doomed.status == "running" and doomed.batch > 0)
        pid = jobs.store.get(doomed.run_id)["pid"]  # the worker claimed the run
        assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        jobs.wait(after.id, 90)
        assert doomed.status == "failed" and "worker process running it died (signal 9" in doomed.error
        run = jobs.store.get(doomed.run_id)
        assert run["status"] == "failed" and "died (signal 9" in run["error"]
        assert after.status == "finished"  # on a worker that replaced the killed one
        assert jobs.store.get(after.run_id)["pid"] not in (pid, os.getpid())
    finally:
        jobs.shutdown()


def test_a_killed_cli_training_shows_as_interrupted(tmp_path, capsys):
    args = ["train", "image", "--model", "mlp", "--epochs", "500", "--batch-size", "8", "--runs", str(tmp_path)]
    cli = subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _statuses(tmp_path) == ["running"])
        wait_for(lambda: RunStore(tmp_path).history(RunStore(tmp_path).list()[0]["id"]))  # well into training
    finally:
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
    assert main(["runs", "--runs", str(tmp_path), "--json"]) == 0  # `python -m core runs --json`
    (run,) = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert run["status"] == "interrupted" and "ended before it finished" in run["error"]


def _statuses(root):
    """The runs' statuses, read without opening a RunStore (which marks orphans); [] before the table exists."""
    try:
        with sqlite3.connect(root / "runs.db") as db:
            return [s for (s,) in db.execute("SELECT status FROM runs")]
    except sqlite3.OperationalError:
        return []


def _set(store, run_id, **values):
    """Change a run's row behind the store's back (SQLite or PostgreSQL)."""
    with store._connect() as db:
        for key, value in values.items():
            db.execute(sa.text(f"UPDATE runs SET {key}=:value WHERE id=:id"), {"value": value, "id": run_id})


def test_a_pid_now_used_by_another_process_does_not_keep_a_run_running(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    mine, reused = (store.create("image", RunConfig(task="image", model="mlp")) for _ in range(2))
    assert store.get(mine)["pid_start"] == process_start(os.getpid()) is not None
    _set(store, reused, pid_start=process_start(os.getpid()) - 1)  # this pid, but a process started earlier
    RunStore(tmp_path, db_url=store_url)
    assert store.get(mine)["status"] == "running"
    assert store.get(reused)["status"] == "interrupted"


def test_a_run_of_another_machine_is_interrupted_only_once_its_heartbeat_is_stale(tmp_path, store_url):
    store = RunStore(tmp_path, db_url=store_url)
    fresh, stale = (store.create("image", RunConfig(task="image", model="mlp")) for _ in range(2))
    elsewhere = f"not-{HOST}"
    _set(store, fresh, host=elsewhere, pid=999999999)
    _set(store, stale, host=elsewhere, pid=999999999, heartbeat=time.time() - STALE_AFTER - 1)
    RunStore(tmp_path, db_url=store_url)
    assert store.get(fresh)["status"] == "running"  # its pid means nothing here; its heartbeat is recent
    assert store.get(stale)["status"] == "interrupted"
    store.beat(fresh)
    store.log_epoch(fresh, {"epoch": 1})
    assert time.time() - store.get(fresh)["heartbeat"] < 5


def test_an_older_store_opens_and_keeps_its_crashed_runs(tmp_path):
    with sqlite3.connect(tmp_path / "runs.db") as db:  # the schema before pid_start, host and heartbeat
        db.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, task TEXT NOT NULL, dataset TEXT, model TEXT, status TEXT NOT "
            "NULL, config TEXT NOT NULL, metrics TEXT, details TEXT, created REAL NOT NULL, finished REAL, seconds "
            "REAL, error TEXT, pid INTEGER)"
        )
        db.execute("INSERT INTO runs (id, task, status, config, created) VALUES ('old', 'image', 'crashed', '{}', 1)")
    store = RunStore(tmp_path)
    assert store.get("old")["status"] == "crashed" and store.get("old")["heartbeat"] is None
    assert store.get(store.create("image", RunConfig(task="image", model="mlp")))["host"] == HOST


def _save_slowly_then_wait(root, run_id, ready):
    """A process that starts saving a checkpoint and is killed half way through writing it."""
    store = RunStore(root)
    store.set_status(run_id, "running")  # this process now runs the run

    def half_then_hang(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a checkpoint")
        ready.set()
        time.sleep(60)

    torch.save = half_then_hang
    store.save_checkpoint(run_id, {"model": {"w": torch.zeros(3)}})


@fork
def test_a_kill_in_the_middle_of_saving_a_checkpoint_leaves_the_last_good_one(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create("image", RunConfig(task="image", model="mlp"))
    store.save_checkpoint(run_id, {"model": {"w": torch.ones(3)}})
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    saver = ctx.Process(target=_save_slowly_then_wait, args=(tmp_path, run_id, ready))
    saver.start()
    assert ready.wait(30)
    assert (tmp_path / run_id / "checkpoint.tmp").exists()
    os.kill(saver.pid, signal.SIGKILL)
    saver.join()
    again = RunStore(tmp_path)
    assert again.get(run_id)["status"] == "interrupted"
    assert torch.equal(again.load_checkpoint(run_id)["model"]["w"], torch.ones(3))  # the good one, whole
    assert not (tmp_path / run_id / "checkpoint.tmp").exists()  # the half-written one is gone


def test_a_run_id_taken_in_the_same_second_is_drawn_again(tmp_path, monkeypatch):
    """Two processes may create runs in the same second; the random part is drawn again on a collision."""
    store = RunStore(tmp_path)
    draws = iter(["0000abcd", "0000abcd", "0000abcd", "1234beef"])
    monkeypatch.setattr("core.run.store.secrets.token_hex", lambda n: next(draws))
    monkeypatch.setattr("core.run.store.time.strftime", lambda fmt: "20260101-000000")
    first = store.create("image", RunConfig(task="image", model="mlp"))
    second = store.create("image", RunConfig(task="image", model="mlp"))
    assert first.endswith("0000abcd") and second.endswith("1234beef")
    assert {r["id"] for r in store.list()} == {first, second}


def _write_runs(root, start, count):
    start.wait()
    store = RunStore(root)
    for i in range(count):
        run_id = store.create("image", RunConfig(task="image", model="mlp", data=f"writer{os.getpid()}"))
        for epoch in range(1, 4):
            store.log_epoch(run_id, {"epoch": epoch, "loss": 1.0 / epoch})
        store.finish(run_id, "finished", {"accuracy": i / count}, {}, 0.1)


@fork
def test_two_processes_writing_one_store_at_once_both_land(tmp_path):
    RunStore(tmp_path)
    ctx = mp.get_context("fork")
    start = ctx.Event()
    writers = [ctx.Process(target=_write_runs, args=(tmp_path, start, 25)) for _ in range(2)]
    for w in writers:
        w.start()
    start.set()
    for w in writers:
        w.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    store = RunStore(tmp_path)
    runs = store.list()
    assert len(runs) == 50 and {r["status"] for r in runs} == {"finished"}
    assert {r["config"].data for r in runs} == {f"writer{w.pid}" for w in writers}
    assert all(len(store.history(r["id"])) == 3 for r in runs)

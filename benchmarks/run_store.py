"""What the run store's writes cost, and how fast 4 processes writing one store at once land 50 runs each.

    python benchmarks/run_store.py                                   # SQLite, in a temporary folder
    python benchmarks/run_store.py --db-url postgresql://USER@HOST/DB   # an empty PostgreSQL database

A run's life in the store is one create, a status, one write per epoch (the heartbeat rides on it) and a finish;
the Runs page lists the runs. Medians of each, then the concurrent writers' wall time (docs/serving_team.md).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

from core.run.settings import RunConfig
from core.run.store import RunStore

WRITERS, RUNS_EACH, EPOCHS = 4, 50, 2


def one_run(store: RunStore, writer: int, i: int) -> None:
    run_id = store.create(
        "image", RunConfig(task="image", model="mlp", data=f"writer{writer}", seed=i), status="queued"
    )
    store.set_status(run_id, "running")
    for epoch in range(1, EPOCHS + 1):
        store.log_epoch(run_id, {"epoch": epoch, "loss": 1.0 / epoch})
    store.finish(run_id, "finished", {"accuracy": 0.5}, {}, 0.1)


def op_medians(root: Path, db_url: str | None, n: int = 100) -> dict[str, float]:
    """Median milliseconds of each operation over `n` runs, one process."""
    store = RunStore(root, db_url=db_url)
    times: dict[str, list[float]] = {"open": [], "create": [], "log_epoch": [], "finish": [], "list": []}

    def timed(name, fn, *args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times[name].append((time.perf_counter() - start) * 1000)
        return out

    for i in range(n):
        run_id = timed("create", store.create, "image", RunConfig(task="image", model="mlp", seed=i))
        timed("log_epoch", store.log_epoch, run_id, {"epoch": 1, "loss": 0.5})
        timed("finish", store.finish, run_id, "finished", {"accuracy": 0.5}, {}, 0.1)
    for _ in range(10):
        timed("open", RunStore, root, db_url=db_url)
        timed("list", store.list)
    return {k: statistics.median(v) for k, v in times.items()}


def _writer(root: Path, db_url: str | None, writer: int, start) -> None:
    start.wait(30)
    store = RunStore(root, db_url=db_url)
    for i in range(RUNS_EACH):
        one_run(store, writer, i)


def concurrent_seconds(root: Path, db_url: str | None) -> float:
    """Wall seconds for WRITERS processes (fork) to land RUNS_EACH runs each in one store."""
    RunStore(root, db_url=db_url)  # the schema first: this times the writes, not the migration
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(root / f"host{w}", db_url, w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    began = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - began
    runs = [r for r in RunStore(root, db_url=db_url).list() if (r["config"].data or "").startswith("writer")]
    assert len(runs) == WRITERS * RUNS_EACH and {r["status"] for r in runs} == {"finished"}, "a run was lost"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", help="an empty database (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shared = args.db_url or f"sqlite:///{tmp}/shared.db"
        print(f"store: {'PostgreSQL' if args.db_url else 'SQLite'}")
        medians = op_medians(Path(tmp) / "ops", args.db_url)
        print("median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items()))
        seconds = concurrent_seconds(Path(tmp) / "team", shared)
        rate = WRITERS * RUNS_EACH / seconds
        print(f"{WRITERS} writers x {RUNS_EACH} runs ({EPOCHS} epochs each): {seconds:.1f} s, {rate:.0f} runs/s")


if __name__ == "__main__":
    main()

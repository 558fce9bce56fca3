"""Run store: SQLite (runs, configs, metric history) plus one folder of files per run."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    dataset TEXT,
    model TEXT,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT,
    details TEXT,
    created REAL NOT NULL,
    finished REAL,
    seconds REAL,
    error TEXT,
    pid INTEGER,
    pid_start INTEGER,
    host TEXT,
    heartbeat REAL
);
CREATE TABLE IF NOT EXISTS history (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    logs TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
"""
ACTIVE = ("queued", "running")
# Columns later versions added; an older runs.db gains them when opened.
ADDED_COLUMNS = {"pid_start": "INTEGER", "host": "TEXT", "heartbeat": "REAL"}
HOST = socket.gethostname()
RESERVE_BYTES = 1 << 20  # kept in the store folder (`.reserve`) so a full disk can still record that a run failed
STALE_AFTER = 10 * 60  # seconds without a heartbeat after which a run whose process cannot be checked is interrupted


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot; Linux), to tell it from a later process given the same
    pid; None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the command name
    except (OSError, IndexError, ValueError):
        return None


def _orphaned(run: sqlite3.Row, now: float) -> bool:
    """Whether the process that queued or runs `run` is gone: dead, or its pid now names another process.

    A pid is only checked on its own host; a run of another machine (a shared store) and one whose process's start
    time cannot be read count as gone once 'running' without a heartbeat for STALE_AFTER seconds.
    """
    stale = run["status"] == "running" and now - (run["heartbeat"] or run["created"]) > STALE_AFTER
    if run["host"] and run["host"] != HOST:
        return stale
    if not _pid_alive(run["pid"]):
        return True
    started = process_start(run["pid"])
    if run["pid_start"] is not None and started is not None:
        return started != run["pid_start"]
    return stale


class RunStoreError(ValueError):
    """The run store cannot be opened or written; the message names the path and what is wrong."""


class RunStore:
    """All runs under `root`: `root/runs.db` and `root/<run_id>/{checkpoint.pt,artifacts.npz}`."""

    def __init__(self, root: str | Path = "runs", read_only: bool = False) -> None:
        """`read_only`: open an existing store only to read it (`core runs`, `core show`): nothing is created,
        upgraded or marked, so a store on read-only media, or someone else's, can still be listed."""
        self.root = Path(root)
        self.db_path = self.root / "runs.db"
        self.read_only = read_only
        if self.root.exists() and not self.root.is_dir():
            raise RunStoreError(f"{self.root} is a file, not a run store folder")
        if read_only:
            if not self.db_path.is_file():
                raise RunStoreError(f"{self.root} holds no run store (no runs.db)")
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"cannot create the run store folder {self.root}: {exc.strerror or exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise RunStoreError(f"the run store folder {self.root} is read-only: runs.db and each run's files go there")
        with self._connect() as db:
            db.executescript(SCHEMA)
            self._add_columns(db)
        self.mark_orphans()
        self.remove_stale_temporaries()
        self._keep_reserve()

    @contextmanager
    def _connect(self):
        db = None
        try:
            if self.read_only:
                db = sqlite3.connect(self._read_only_uri(), uri=True, timeout=30)
            else:
                db = sqlite3.connect(self.db_path, timeout=30)
                db.execute("PRAGMA foreign_keys = ON")
                db.execute("PRAGMA journal_mode = WAL")
            db.row_factory = sqlite3.Row
            with db:
                yield db
        except sqlite3.DatabaseError as exc:  # corrupt, unreadable or unwritable: name the file, not a traceback
            raise self._database_error(exc) from exc
        finally:
            if db is not None:
                db.close()

    def _read_only_uri(self) -> str:
        """SQLite opens a WAL database read-only only where it can make the shared-memory file beside it; in a
        folder nobody may write, `immutable` reads it as a file that does not change (nobody can change it)."""
        writable = os.access(self.root, os.W_OK | os.X_OK)
        return self.db_path.resolve().as_uri() + ("?mode=ro" if writable else "?mode=ro&immutable=1")

    def _database_error(self, exc: sqlite3.DatabaseError) -> RunStoreError:
        reason = str(exc)
        if "not a database" in reason or "malformed" in reason:
            return RunStoreError(
                f"{self.db_path} is not a readable run store database ({reason}): move it aside to start a new store"
            )
        if "readonly" in reason or "unable to open" in reason:
            return RunStoreError(f"cannot write the run store {self.db_path} ({reason}): is {self.root} writable?")
        return RunStoreError(f"run store {self.db_path}: {reason}")

    @staticmethod
    def _add_columns(db: sqlite3.Connection) -> None:
        have = {r["name"] for r in db.execute("PRAGMA table_info(runs)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in have:
                try:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:  # another process opening the store added it first
                    if "duplicate column" not in str(exc):
                        raise

    def mark_orphans(self) -> int:
        """A run left queued or running by a process that has gone (killed, a restarted server) was interrupted:
        say so, rather than show it running forever. Older stores called this status 'crashed'."""
        now = time.time()
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE status IN (?, ?)", ACTIVE).fetchall()
            gone = [r["id"] for r in rows if _orphaned(r, now)]
            for run_id in gone:
                db.execute(
                    "UPDATE runs SET status='interrupted', error=COALESCE(error, ?) WHERE id=? AND status IN (?, ?)",
                    ("interrupted: the process running it ended before it finished", run_id, *ACTIVE),
                )
        return len(gone)

    def _keep_reserve(self) -> None:
        """Set RESERVE_BYTES of disk aside (allocated, not a sparse file), for `fail` to give back on a full disk."""
        reserve = self.root / ".reserve"
        if reserve.exists():
            return
        try:
            with open(reserve, "wb") as f:
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(f.fileno(), 0, RESERVE_BYTES)
                else:
                    f.write(bytes(RESERVE_BYTES))
        except OSError:  # a disk already full: no reserve this time
            reserve.unlink(missing_ok=True)

    def fail(self, run_id: str, status: str, error: str, details: dict[str, Any]) -> None:
        """Record that a run failed (or diverged), even on a full disk: when SQLite cannot write, the reserve is
        given back and the write tried again. RunStoreError if it still cannot be written."""
        try:
            self.finish(run_id, status, {}, details, 0.0, error=error)
        except RunStoreError:
            (self.root / ".reserve").unlink(missing_ok=True)  # made again the next time the store is opened
            self.finish(run_id, status, {}, details, 0.0, error=error)

    def remove_stale_temporaries(self) -> int:
        """A `checkpoint.tmp` of a run no live process is running was left by a killed save: remove it."""
        with self._connect() as db:
            active = {r["id"] for r in db.execute("SELECT id FROM runs WHERE status IN (?, ?)", ACTIVE)}
        stale = [tmp for tmp in self.root.glob("*/checkpoint.tmp") if tmp.parent.name not in active]
        for tmp in stale:
            tmp.unlink(missing_ok=True)
        return len(stale)

    def create(self, task: str, config: dict[str, Any], status: str = "running") -> str:
        """A new run; its id is readable (time, task, model) and unique: a random part of 32 bits, drawn again in
        the rare case another process took the same id within the same second."""
        for attempt in range(5):
            run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{config.get('model', 'model')}-{secrets.token_hex(4)}"
            try:
                with self._connect() as db:
                    db.execute(
                        "INSERT INTO runs (id, task, dataset, model, status, config, created, pid, pid_start, host, "
                        "heartbeat) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            run_id,
                            task,
                            config.get("dataset") or config.get("data"),
                            config.get("model"),
                            status,
                            json.dumps(config),
                            time.time(),
                            *_this_process(),
                        ),
                    )
            except RunStoreError as exc:
                if isinstance(exc.__cause__, sqlite3.IntegrityError) and attempt < 4:
                    continue
                raise
            break
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Set a run's status; 'running' also records this process as the one running it (a worker, not the
        server that queued it), so its death is noticed."""
        with self._connect() as db:
            db.execute("UPDATE runs SET status=?, error=COALESCE(?, error) WHERE id=?", (status, error, run_id))
            if status == "running":
                db.execute(
                    "UPDATE runs SET pid=?, pid_start=?, host=?, heartbeat=? WHERE id=?", (*_this_process(), run_id)
                )

    def beat(self, run_id: str) -> None:
        """The run's process is alive: a heartbeat, for stores shared between machines (see `_orphaned`)."""
        with self._connect() as db:
            db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))

    def log_epoch(self, run_id: str, logs: dict[str, float]) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))
            db.execute(
                "INSERT OR REPLACE INTO history (run_id, epoch, logs) VALUES (?,?,?)",
                (run_id, int(logs["epoch"]), json.dumps(logs)),
            )

    def finish(
        self,
        run_id: str,
        status: str,
        metrics: dict[str, float],
        details: dict[str, Any],
        seconds: float,
        error: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        """Record how a run ended; `config` replaces the stored one when the run trained with other settings
        than were asked for (the small-data batch rule)."""
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET status=?, metrics=?, details=?, seconds=?, finished=?, error=? WHERE id=?",
                (status, json.dumps(metrics), json.dumps(details), seconds, time.time(), error, run_id),
            )
            if config is not None:
                db.execute("UPDATE runs SET config=? WHERE id=?", (json.dumps(config), run_id))

    def save_checkpoint(self, run_id: str, checkpoint: dict[str, Any]) -> Path:
        path = self.run_dir(run_id) / "checkpoint.pt"
        tmp = path.with_suffix(".tmp")
        try:
            torch.save(checkpoint, tmp)
            tmp.replace(path)  # atomic: a crash mid-save never leaves a half-written checkpoint
        except BaseException as exc:
            tmp.unlink(missing_ok=True)  # a full disk must not stay full of half a checkpoint
            if isinstance(exc, OSError | RuntimeError):  # torch's zip writer reports a full disk as RuntimeError
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
                free = shutil.disk_usage(self.root).free
                raise RunStoreError(
                    f"could not save the checkpoint {path} ({reason}; {free / 2**20:,.0f} MiB free on that disk)"
                ) from exc
            raise
        return path

    def load_checkpoint(self, run_id: str) -> dict[str, Any]:
        path = self.run_dir(run_id) / "checkpoint.pt"
        if not path.exists():
            raise FileNotFoundError(f"run {run_id} has no checkpoint ({path})")
        return torch.load(path, map_location="cpu", weights_only=True)

    def save_artifacts(self, run_id: str, **arrays: np.ndarray) -> None:
        np.savez_compressed(self.run_dir(run_id) / "artifacts.npz", **arrays)

    def load_artifacts(self, run_id: str) -> dict[str, np.ndarray]:
        path = self.run_dir(run_id) / "artifacts.npz"
        if not path.exists():
            return {}
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _row_to_dict(row) if row else None

    def history(self, run_id: str) -> list[dict[str, float]]:
        with self._connect() as db:
            rows = db.execute("SELECT logs FROM history WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
        return [json.loads(r["logs"]) for r in rows]

    def list(self, task: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM runs", []
        if task:
            query += " WHERE task=?"
            args.append(task)
        query += " ORDER BY created DESC"
        if limit:
            query += f" LIMIT {int(limit)}"
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
        return [_row_to_dict(r) for r in rows]

    def delete(self, run_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM history WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)


def _this_process() -> tuple[int, int | None, str, float]:
    """(pid, its start time, host, now): who is writing a run, for `_orphaned`."""
    return os.getpid(), process_start(os.getpid()), HOST, time.time()


def _row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in ("config", "metrics", "details"):
        out[key] = json.loads(out[key]) if out.get(key) else {}
    return out

"""Run store: a database (runs, configs, metric history) plus one folder of files per run.

The database is SQLite (`runs/runs.db`, one person's default) or PostgreSQL (a team's store, written by many
machines at once), chosen by a SQLAlchemy URL: `db_url=`, else `$DLSTUDIO_DB_URL`. Both get the same schema from
the same Alembic migrations (core/run/migrations/). Run files go through core/run/artifacts.py: the store's folder by
default, `artifacts_url=` or `$DLSTUDIO_ARTIFACTS_URL` (any fsspec URL) for a team.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
import torch
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import NullPool

from core.run.artifacts import ArtifactStore
from core.run.settings import RunConfig

DB_URL_ENV = "DLSTUDIO_DB_URL"
ARTIFACTS_URL_ENV = "DLSTUDIO_ARTIFACTS_URL"
ACTIVE = ("queued", "running")
INTERRUPTED = "interrupted: the process running it ended before it finished"
HOST = socket.gethostname()
RESERVE_BYTES = 1 << 20  # kept in the store folder (`.reserve`) so a full disk can still record that a run failed
STALE_AFTER = 10 * 60  # seconds without a heartbeat after which a run whose process cannot be checked is interrupted
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x646C7374  # a PostgreSQL advisory lock key: one process migrates a store at a time

# The tables as the migrations leave them (the migrations, not this, create them).
metadata = sa.MetaData()
runs_table = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    *(sa.Column(name, sa.Text) for name in ("task", "dataset", "model", "status", "config", "metrics", "details")),
    *(sa.Column(name, sa.Float) for name in ("created", "finished", "seconds")),
    sa.Column("error", sa.Text),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_start", sa.BigInteger),
    sa.Column("host", sa.Text),
    sa.Column("heartbeat", sa.Float),
)
history_table = sa.Table(
    "history",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("logs", sa.Text),
)
# Seconds since the epoch by the database's clock: one clock for every machine writing a shared store.
DB_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
}


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


def _orphaned(run: dict[str, Any], now: float) -> bool:
    """Whether the process that queued or runs `run` is gone: dead, or its pid now names another process.

    A pid is only checked on its own host; a run of another machine (a shared store) and one whose process's start
    time cannot be read count as gone once 'running' without a heartbeat for STALE_AFTER seconds, both times read
    from the database's clock.
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


def database_url(db_url: str | None = None) -> str | None:
    """The database URL in effect: `db_url`, else $DLSTUDIO_DB_URL; None means the store folder's runs.db."""
    return (db_url or os.environ.get(DB_URL_ENV, "")).strip() or None


def _parse_url(db_url: str) -> sa.URL:
    try:
        url = sa.make_url(db_url)
    except sa.exc.ArgumentError as exc:
        raise RunStoreError(f"{DB_URL_ENV} / --db-url {db_url!r} is not a database URL ({exc})") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3, the driver we install (not psycopg2)
    if url.get_backend_name() not in DB_NOW:
        raise RunStoreError(f"--db-url {db_url!r}: the run store speaks sqlite:/// and postgresql:// only")
    return url


# Engines by (url, read-only, process): a forked child never uses its parent's pooled connections.
_ENGINES: dict[tuple[str, bool, int], sa.Engine] = {}


def _sqlite_engine(db_path: Path, read_only: bool) -> sa.Engine:
    def connect() -> sqlite3.Connection:
        if read_only:
            return sqlite3.connect(_read_only_uri(db_path), uri=True, timeout=30, check_same_thread=False)
        db = sqlite3.connect(db_path, timeout=30, check_same_thread=False)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        return db

    # One connection per use, as SQLite wants across processes and forks.
    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)


def _read_only_uri(db_path: Path) -> str:
    """SQLite opens a WAL database read-only only where it can make the shared-memory file beside it; in a
    folder nobody may write, `immutable` reads it as a file that does not change (nobody can change it)."""
    writable = os.access(db_path.parent, os.W_OK | os.X_OK)
    return db_path.resolve().as_uri() + ("?mode=ro" if writable else "?mode=ro&immutable=1")


def _engine(url: sa.URL | None, db_path: Path | None, read_only: bool) -> sa.Engine:
    key = (url.render_as_string(hide_password=False) if url else str(db_path), read_only, os.getpid())
    if key not in _ENGINES:
        if url is None or url.get_backend_name() == "sqlite":
            _ENGINES[key] = _sqlite_engine(db_path, read_only)
        else:
            _ENGINES[key] = sa.create_engine(
                url, pool_size=2, max_overflow=8, pool_pre_ping=True, connect_args={"connect_timeout": 10}
            )
    return _ENGINES[key]


def forget_engines() -> None:
    """Close every pooled database connection of this process (a test's throwaway database, a server's shutdown)."""
    for key in [k for k in _ENGINES if k[2] == os.getpid()]:
        _ENGINES.pop(key).dispose()


@cache
def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _migrate(engine: sa.Engine) -> None:
    """Bring the database to the newest schema with Alembic, under a lock so that processes opening one store at
    once migrate it once. A store made before Alembic (no alembic_version) runs every migration: each creates only
    what it lacks."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == _head_revision():
            return
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now, before alembic reads the version
        else:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


class RunStore:
    """All runs under `root`: `root/runs.db` (or the database at `db_url`) and `root/<run_id>/{checkpoint.pt,
    artifacts.npz}` (or the same names under `artifacts_url`)."""

    def __init__(
        self,
        root: str | Path = "runs",
        read_only: bool = False,
        db_url: str | None = None,
        artifacts_url: str | None = None,
    ) -> None:
        """`read_only`: open an existing store only to read it (`core runs`, `core show`): nothing is created,
        upgraded or marked, so a store on read-only media, or someone else's, can still be listed."""
        self.root = Path(root)
        self.read_only = read_only
        self.db_url = database_url(db_url)
        url = _parse_url(self.db_url) if self.db_url else None
        if url is None or url.get_backend_name() == "sqlite":
            self.db_path = Path(url.database) if url and url.database else self.root / "runs.db"
            self.where = str(self.db_path)
        else:
            self.db_path = None
            self.where = url.render_as_string(hide_password=True)
        self.artifacts_url = (artifacts_url or os.environ.get(ARTIFACTS_URL_ENV, "")).strip() or None
        self.artifacts = ArtifactStore(self.artifacts_url or self.root)
        if self.root.exists() and not self.root.is_dir():
            raise RunStoreError(f"{self.root} is a file, not a run store folder")
        if read_only:
            if self.db_path is not None and not self.db_path.is_file():
                raise RunStoreError(f"{self.root} holds no run store (no runs.db)")
            self._engine = _engine(url, self.db_path, read_only=True)
            self._now = sa.literal_column(DB_NOW[self._engine.dialect.name], sa.Float)
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"cannot create the run store folder {self.root}: {exc.strerror or exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise RunStoreError(f"the run store folder {self.root} is read-only: runs.db and each run's files go there")
        self._engine = _engine(url, self.db_path, read_only=False)
        try:
            _migrate(self._engine)
        except sa.exc.DBAPIError as exc:
            raise self._database_error(exc) from exc
        self._now = sa.literal_column(DB_NOW[self._engine.dialect.name], sa.Float)
        self.mark_orphans()
        self.remove_stale_temporaries()
        self._keep_reserve()

    def env(self) -> dict[str, str]:
        """The settings that open this same store in another process (a worker, a torchrun rank, a Ray task)."""
        found = {DB_URL_ENV: self.db_url, ARTIFACTS_URL_ENV: self.artifacts_url}
        return {k: v for k, v in found.items() if v}

    @contextmanager
    def _connect(self):
        """A connection in a transaction, committed when the block ends; a database error becomes RunStoreError."""
        try:
            with self._engine.begin() as db:
                yield db
        except sa.exc.DBAPIError as exc:  # corrupt, unreadable, unwritable, unreachable: name it, not a traceback
            raise self._database_error(exc) from exc

    def _database_error(self, exc: sa.exc.DBAPIError) -> RunStoreError:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if "not a database" in reason or "malformed" in reason:
            return RunStoreError(
                f"{self.where} is not a readable run store database ({reason}): move it aside to start a new store"
            )
        if self.db_path is not None and ("readonly" in reason or "unable to open" in reason):
            folder = self.db_path.parent
            return RunStoreError(f"cannot write the run store {self.where} ({reason}): is {folder} writable?")
        return RunStoreError(f"run store {self.where}: {reason}")

    def _db_now(self, db) -> float:
        return db.execute(sa.select(self._now)).scalar_one()

    def mark_orphans(self) -> int:
        """A run left queued or running by a process that has gone (killed, a restarted server) was interrupted:
        say so, rather than show it running forever. Older stores called this status 'crashed'."""
        runs = runs_table.c
        with self._connect() as db:
            rows = db.execute(sa.select(runs_table, self._now.label("db_now")).where(runs.status.in_(ACTIVE)))
            gone = [r.id for r in rows if _orphaned(r._mapping, r.db_now)]
            for run_id in gone:
                db.execute(
                    runs_table.update()
                    .where(runs.id == run_id, runs.status.in_(ACTIVE))
                    .values(status="interrupted", error=sa.func.coalesce(runs.error, INTERRUPTED))
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
            active = set(db.execute(sa.select(runs_table.c.id).where(runs_table.c.status.in_(ACTIVE))).scalars())
        stale = self.artifacts.stale_temporaries(keep=active)
        for tmp in stale:
            self.artifacts.fs.rm(tmp)
        return len(stale)

    def create(self, task: str, config: RunConfig, status: str = "running") -> str:
        """A new run; its id is readable (time, task, model) and unique: a random part of 32 bits, drawn again in
        the rare case another process took the same id within the same second."""
        for attempt in range(5):
            run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{config.model or 'model'}-{secrets.token_hex(4)}"
            row = {
                "id": run_id,
                "task": task,
                "dataset": config.dataset or config.data,
                "model": config.model,
                "status": status,
                "config": json.dumps(config.to_dict()),
                "created": self._now,
                **self._this_process(),
            }
            try:
                with self._connect() as db:
                    db.execute(runs_table.insert().values(**row))
            except RunStoreError as exc:
                if isinstance(exc.__cause__, sa.exc.IntegrityError) and attempt < 4:
                    continue
                raise
            break
        self.artifacts.make_folder(run_id)
        return run_id

    def run_dir(self, run_id: str) -> Path:
        """The run's folder on this machine: where its files are, or (artifacts at a URL) where they are made."""
        return self.root / run_id

    def _this_process(self) -> dict[str, Any]:
        """Who is writing a run, for `_orphaned`: this process, its start time, this host, the database's now."""
        pid = os.getpid()
        return {"pid": pid, "pid_start": process_start(pid), "host": HOST, "heartbeat": self._now}

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Set a run's status; 'running' also records this process as the one running it (a worker, not the
        server that queued it), so its death is noticed."""
        runs = runs_table.c
        values = {"status": status, "error": sa.func.coalesce(error, runs.error)}
        if status == "running":
            values.update(self._this_process())
        with self._connect() as db:
            db.execute(runs_table.update().where(runs.id == run_id).values(**values))

    def beat(self, run_id: str) -> None:
        """The run's process is alive: a heartbeat, for stores shared between machines (see `_orphaned`)."""
        with self._connect() as db:
            db.execute(runs_table.update().where(runs_table.c.id == run_id).values(heartbeat=self._now))

    def log_epoch(self, run_id: str, logs: dict[str, float]) -> None:
        dialect = {"sqlite": sqlite_dialect, "postgresql": pg_dialect}[self._engine.dialect.name]
        row = {"run_id": run_id, "epoch": int(logs["epoch"]), "logs": json.dumps(logs)}
        upsert = dialect.insert(history_table).values(**row)
        upsert = upsert.on_conflict_do_update(index_elements=["run_id", "epoch"], set_={"logs": upsert.excluded.logs})
        with self._connect() as db:
            db.execute(runs_table.update().where(runs_table.c.id == run_id).values(heartbeat=self._now))
            db.execute(upsert)

    def finish(
        self,
        run_id: str,
        status: str,
        metrics: dict[str, float],
        details: dict[str, Any],
        seconds: float,
        error: str | None = None,
        config: RunConfig | None = None,
    ) -> None:
        """Record how a run ended; `config` replaces the stored one when the run trained with other settings
        than were asked for (the small-data batch rule)."""
        values = {"status": status, "metrics": json.dumps(metrics), "details": json.dumps(details)}
        values.update(seconds=seconds, finished=self._now, error=error)
        if config is not None:
            values["config"] = json.dumps(config.to_dict())
        with self._connect() as db:
            db.execute(runs_table.update().where(runs_table.c.id == run_id).values(**values))

    def save_checkpoint(self, run_id: str, checkpoint: dict[str, Any]) -> Path:
        """Write the checkpoint whole (a crash mid-save leaves the last good one); the path of the local file."""
        path = self.run_dir(run_id) / "checkpoint.pt"
        try:
            with self.artifacts.writing(run_id, "checkpoint.pt") as target:
                torch.save(checkpoint, target)
        except (OSError, RuntimeError) as exc:  # torch's zip writer reports a full disk as RuntimeError
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
            free = shutil.disk_usage(self.root).free
            raise RunStoreError(
                f"could not save the checkpoint {path} ({reason}; {free / 2**20:,.0f} MiB free on that disk)"
            ) from exc
        return path

    def load_checkpoint(self, run_id: str) -> dict[str, Any]:
        if not self.artifacts.exists(run_id, "checkpoint.pt"):
            where = self.artifacts.path(run_id, "checkpoint.pt")
            raise FileNotFoundError(f"run {run_id} has no checkpoint ({where})")
        with self.artifacts.open(run_id, "checkpoint.pt") as f:
            return torch.load(f, map_location="cpu", weights_only=True)

    def save_artifacts(self, run_id: str, **arrays: np.ndarray) -> None:
        with self.artifacts.writing(run_id, "artifacts.npz", tmp_suffix=".tmp.npz") as target:
            np.savez_compressed(target, **arrays)

    def load_artifacts(self, run_id: str) -> dict[str, np.ndarray]:
        if not self.artifacts.exists(run_id, "artifacts.npz"):
            return {}
        with self.artifacts.open(run_id, "artifacts.npz") as f, np.load(f, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def keep_file(self, run_id: str, path: str | Path) -> None:
        """A file made in `run_dir(run_id)` (an export) joins the run's stored files (a no-op on the default
        folder, where it already is)."""
        self.artifacts.put(run_id, Path(path).name, path)

    def read_file(self, run_id: str, name: str) -> bytes | None:
        """One of the run's stored files (`checkpoint.pt`, `model.onnx`, ...), or None where it has none."""
        return self.artifacts.read(run_id, name) if self.artifacts.exists(run_id, name) else None

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The run's row: its config a RunConfig, its metrics and details dicts; None for an unknown id."""
        with self._connect() as db:
            row = db.execute(sa.select(runs_table).where(runs_table.c.id == run_id)).first()
        return _row_to_dict(row) if row else None

    def history(self, run_id: str) -> list[dict[str, float]]:
        query = sa.select(history_table.c.logs).where(history_table.c.run_id == run_id).order_by(history_table.c.epoch)
        with self._connect() as db:
            return [json.loads(logs) for logs in db.execute(query).scalars()]

    def list(self, task: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(runs_table).order_by(runs_table.c.created.desc())
        if task:
            query = query.where(runs_table.c.task == task)
        if limit:
            query = query.limit(int(limit))
        with self._connect() as db:
            return [_row_to_dict(r) for r in db.execute(query)]

    def delete(self, run_id: str) -> None:
        with self._connect() as db:
            db.execute(history_table.delete().where(history_table.c.run_id == run_id))
            db.execute(runs_table.delete().where(runs_table.c.id == run_id))
        self.artifacts.delete(run_id)
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)  # the local working folder of remote artifacts


def job_store(task: dict[str, Any]) -> RunStore:
    """The store a job task names (core/exec/job_runner.py job_task): its folder, and the database and artifact URLs
    of the submitter's settings, so a worker, a thread or a Ray driver writes where the submitter reads."""
    env = task.get("env") or {}
    return RunStore(task["store"], db_url=env.get(DB_URL_ENV), artifacts_url=env.get(ARTIFACTS_URL_ENV))


def _row_to_dict(row: sa.Row) -> dict[str, Any]:
    """A stored row as the store hands it out: the config read back (and an old one brought up to date) by
    RunConfig.from_dict, the metrics and details as dicts."""
    out = dict(row._mapping)
    for key in ("metrics", "details"):
        out[key] = json.loads(out[key]) if out.get(key) else {}
    out["config"] = RunConfig.from_dict(json.loads(out["config"]))  # never empty: the column is NOT NULL
    return out

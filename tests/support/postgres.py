"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary folder, served on a free port of 127.0.0.1.

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user (Debian's package makes it),
else `nobody`. scripts/test.sh installs PostgreSQL from Debian's packages where it is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (Debian keeps them out of PATH), or None where none is installed."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A running cluster; `url(name)` is a new, empty database on it (the test's own)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="dlstudio-pg-"))
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.dir, user)
            self.as_user = ["runuser", "-u", user, "--"]
        self.created = 0

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> Cluster:
        data = self.dir / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        log = str(self.dir / "server.log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", log, "-w", "-o", options, "start")
        return self

    def url(self, prefix: str = "test") -> str:
        """A fresh database's SQLAlchemy URL."""
        import psycopg

        self.created += 1
        name = f"{prefix}_{os.getpid()}_{self.created}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True

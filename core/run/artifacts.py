"""Artifact storage: each run's files (checkpoint, predictions, exports) in a local folder or at any fsspec URL."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import fsspec
from fsspec.implementations.local import LocalFileSystem


class ArtifactStore:
    """Files by run id and name under `url`: a folder (the default, `runs/`), or an fsspec URL a team shares
    (`file:///mnt/shared/runs`, `s3://bucket/runs` with s3fs installed, `memory://runs` in tests).

    Writers write a local file and `writing` puts it in place whole: renamed into place on a local folder (a
    crash never leaves half a file under the real name), uploaded once complete elsewhere.
    """

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        self.fs, self.base = fsspec.core.url_to_fs(self.url)
        self.local = isinstance(self.fs, LocalFileSystem)

    def path(self, run_id: str, name: str = "") -> str:
        """Where a run's file (or, without a name, its folder) lives, in the filesystem's own terms."""
        return "/".join(p for p in (self.base.rstrip("/"), run_id, name) if p)

    def local_folder(self, run_id: str) -> Path | None:
        """The run's folder on this machine's disk, where the files are local; None elsewhere."""
        return Path(self.path(run_id)) if self.local else None

    def make_folder(self, run_id: str) -> None:
        self.fs.makedirs(self.path(run_id), exist_ok=True)

    @contextmanager
    def writing(self, run_id: str, name: str, tmp_suffix: str = ".tmp") -> Iterator[Path]:
        """A local path to write `name` to; in place once the block ends without an exception, gone if it raises."""
        if self.local:
            final = Path(self.path(run_id, name))
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_suffix(tmp_suffix)
            try:
                yield tmp
                tmp.replace(final)  # atomic: a reader sees the old file or the new one, never half of one
            finally:
                tmp.unlink(missing_ok=True)
            return
        with tempfile.TemporaryDirectory(prefix="dlstudio-artifact-") as tmp:
            local = Path(tmp, name)
            yield local
            self.fs.put_file(str(local), self.path(run_id, name))

    def put(self, run_id: str, name: str, local_file: str | Path) -> None:
        """Store a file made elsewhere on this machine under the run's `name` (a copy; a no-op where it is there)."""
        target = self.path(run_id, name)
        if self.local:
            if os.path.abspath(local_file) != os.path.abspath(target):
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local_file, target)
            return
        self.fs.put_file(str(local_file), target)

    def open(self, run_id: str, name: str) -> IO[bytes]:
        """The file for reading (seekable, as torch.load and numpy.load need); FileNotFoundError if absent."""
        return self.fs.open(self.path(run_id, name), "rb")

    def read(self, run_id: str, name: str) -> bytes:
        with self.open(run_id, name) as f:
            return f.read()

    def exists(self, run_id: str, name: str) -> bool:
        return self.fs.exists(self.path(run_id, name))

    def list(self, run_id: str) -> list[str]:
        """The names of a run's files, sorted; [] for a run without any."""
        folder = self.path(run_id)
        if not self.fs.isdir(folder):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False))

    def delete(self, run_id: str) -> None:
        """Remove a run's files and folder (nothing to remove is not an error)."""
        folder = self.path(run_id)
        if self.local:
            shutil.rmtree(folder, ignore_errors=True)
        elif self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def stale_temporaries(self, keep: set[str], name: str = "checkpoint.tmp") -> list[str]:
        """Paths of `name` left in the folders of runs not in `keep` (a write killed half way)."""
        found = self.fs.glob(self.path("*", name))
        return [p for p in found if p.rstrip("/").split("/")[-2] not in keep]

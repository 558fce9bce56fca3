"""Distributed data parallel: `run_distributed` launches a run under torchrun; `join` is each rank's side of it.

A run with `nproc_per_node` > 1 (`python -m core train ... --nproc-per-node N`, the page's "Processes (DDP)", a job)
is trained by N processes started by `torch.distributed.run` (torchrun): gloo on the CPU, NCCL on CUDA. Each rank
builds the same model from the same seed and trains on its slice of every batch (core.run.training.Shard); the
trainer's strategy (core.exec.ddp.DDPStrategy) averages the gradients across ranks (DistributedDataParallel) and adds
up validation sums across ranks, and rank 0 alone writes the run: its epochs, test metrics and checkpoint.
`torchrun --nproc-per-node N -m core train ...` works too: each rank sees torchrun's RANK / WORLD_SIZE / LOCAL_RANK
and joins the group itself.

The launcher (the CLI, or a job's worker) creates the run in the store before torchrun starts, so the run is
visible at once and is marked failed with torchrun's last words if the ranks die; it follows the run's progress
through the store (epochs) and a small progress file rank 0 writes (batches), and stops it through a stop file
every rank checks each batch (they agree on it in one all-reduce, so all stop at the same batch).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.run.config import train_config
from core.run.result import RunResult
from core.run.settings import RunConfig
from core.run.status import TESTED, Status
from core.run.training import Callback, Diverged, StopTraining

if TYPE_CHECKING:
    from core.exec.ddp import DDPStrategy
    from core.run.store import RunStore

STOP_FILE_ENV = "DLSTUDIO_STOP_FILE"  # its existence asks every rank to stop after the current batch
PROGRESS_FILE_ENV = "DLSTUDIO_PROGRESS_FILE"  # rank 0 writes "epoch batch loss" there, for the launcher's progress
JOINED_FILE_ENV = "DLSTUDIO_JOINED_FILE"  # made by the ranks once the group has formed (the rendezvous is over)
RENDEZVOUS_SECONDS = 300.0  # for the group to form (every machine to join); DLSTUDIO_RENDEZVOUS_TIMEOUT
TEMP_PREFIX = "dlstudio-ddp-"
ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.25
STOP_GRACE_SECONDS = 60  # a stop asked for and not done by then: the ranks are terminated
PROGRESS_EVERY = 0.2  # seconds between rank 0's writes of the progress file


@dataclass(frozen=True)
class Launch:
    """Where torchrun puts the ranks: this machine alone (a free port found by torchrun), or `nnodes` machines
    meeting at master_addr:master_port, this one being `node_rank` (node 0 holds global rank 0 and the run)."""

    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    def __post_init__(self) -> None:
        if self.nnodes < 1:
            raise ValueError(f"--nnodes {self.nnodes}: at least 1 machine takes part")
        if not 0 <= self.node_rank < self.nnodes:
            raise ValueError(f"--node-rank {self.node_rank} is outside 0 to {self.nnodes - 1} (--nnodes {self.nnodes})")
        if not 1 <= self.master_port <= 65535:
            raise ValueError(f"--master-port {self.master_port} is outside 1 to 65535")

    def waiting_for(self) -> str:
        """Who the group waits for, for the message when it never forms."""
        if self.nnodes == 1:
            return "the processes on this machine did not all start"
        return (
            f"{self.nnodes} machines were to meet at {self.master_addr}:{self.master_port} (this one is --node-rank "
            f"{self.node_rank}); start every other one with the same --nnodes, --master-addr and --master-port"
        )


def in_torchrun() -> bool:
    """Whether this process is a rank started by torchrun (or any launcher that sets torch.distributed's env)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def refuse_closed_form(config: RunConfig) -> None:
    from core.models import get_spec

    if get_spec(config.task, config.model).closed_form:
        raise ValueError(
            f"{config.model} is fitted in closed form, in one process: more processes (DDP) only help models "
            "trained by gradient descent; leave --nproc-per-node at 1"
        )


# ---------------------------------------------------------------- each rank's side


class RankStop:
    """A rank's stop flag, read every batch: the launcher's stop file, Ctrl-C (SIGINT), or a local event."""

    def __init__(self, path: str | None = None, event: Any = None) -> None:
        self.path, self.event, self.signalled = path, event, False

    def is_set(self) -> bool:
        return (
            self.signalled
            or (self.event is not None and self.event.is_set())
            or bool(self.path and os.path.exists(self.path))
        )

    def set(self) -> None:
        self.signalled = True


def _terminated(signum, frame) -> None:
    raise SystemExit("terminated (SIGTERM): its launcher or another of its processes ended, or a stop took too long")


def _leave_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def join(config: RunConfig, stop_event: Any = None) -> tuple[RunConfig, DDPStrategy, RankStop]:
    """This process as a rank of torchrun's group; returns (config as trained, the trainer's strategy, stop flag).

    gloo on the CPU, NCCL on CUDA (one GPU per local rank). Ctrl-C asks for a stop rather than interrupting
    mid-batch, so that every rank stops at the same batch and rank 0 still saves the run.
    """
    import torch
    import torch.distributed as dist

    from core.exec.ddp import DDPStrategy

    refuse_closed_form(config)
    if not dist.is_initialized():
        local_rank, local_world = int(os.environ["LOCAL_RANK"]), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        cuda = config.device != "cpu" and torch.cuda.is_available()
        if cuda and torch.cuda.device_count() < local_world:
            raise ValueError(
                f"{local_world} processes on this machine need {local_world} GPUs (NCCL: one each), and it has "
                f"{torch.cuda.device_count()}: use fewer processes, or --device cpu"
            )
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
        atexit.register(_leave_group)  # a group still open at exit aborts the process (gloo's threads)
        if os.environ.get(JOINED_FILE_ENV):
            Path(os.environ[JOINED_FILE_ENV]).touch()  # the launcher's rendezvous clock stops here
    stop = RankStop(os.environ.get(STOP_FILE_ENV), stop_event)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
        signal.signal(signal.SIGTERM, _terminated)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
    return replace(config, nproc_per_node=local_world), DDPStrategy(), stop


class ProgressFile(Callback):
    """Rank 0's batch progress as one line, "epoch batch loss", replaced at most every PROGRESS_EVERY seconds."""

    def __init__(self, path: str) -> None:
        self.path, self._sent = Path(path), 0.0

    def on_batch_end(self, trainer, batch, loss):
        now = time.monotonic()
        if now - self._sent >= PROGRESS_EVERY:
            self._sent = now
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(f"{trainer.epoch} {batch + 1} {loss!r}")
            os.replace(tmp, self.path)


# ---------------------------------------------------------------- the launcher


class LaunchedRun:
    """What the launcher's callbacks see as `trainer`: the run's settings and its progress so far."""

    def __init__(self, config: RunConfig, world_size: int) -> None:
        self.run_config = config
        self.config = train_config(config)
        self.world_size, self.rank = world_size, 0
        self.epoch, self.history, self.status = 0, [], "running"


def torchrun_command(nproc: int, launch: Launch, config_file: str, store_root: str, run_id: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if launch.nnodes == 1:
        cmd.append("--standalone")  # a rendezvous on this machine, on a free port
    else:
        cmd += [f"--nnodes={launch.nnodes}", f"--node-rank={launch.node_rank}"]
        cmd += [f"--master-addr={launch.master_addr}", f"--master-port={launch.master_port}"]
    cmd += ["-m", "core.exec.ddp_rank", config_file, "--runs", store_root]
    return cmd + (["--run-id", run_id] if run_id else [])


def _rank_env(nproc: int, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    # Each rank its share of the cores (torchrun would set 1 thread each, and warn).
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env.update({STOP_FILE_ENV: str(tmp / "stop"), PROGRESS_FILE_ENV: str(tmp / "progress")})
    env[JOINED_FILE_ENV] = str(tmp / "joined")
    return env


def remove_stale_temporaries() -> int:
    """The temp folders of launchers that were killed (kill -9 leaves no time to clean up): each holds its
    launcher's pid; a folder whose launcher is gone is removed."""
    from core.run.store import _pid_alive

    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            pid = int((folder / "pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or being made right now
        if not _pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def run_distributed(
    config: RunConfig,
    store: RunStore | None,
    callbacks: list[Callback] | None = None,
    stop_event: Any = None,
    run_id: str | None = None,
    launch: Launch | None = None,
) -> RunResult:
    """Train `config` in `config.nproc_per_node` processes per machine under torchrun; the run lands in `store`.

    Blocks until the ranks end; `callbacks` get fit start, every epoch (from the store), batch progress and fit
    end. `stop_event.is_set()` (or Ctrl-C here) stops every rank after its current batch, keeping the model as it
    stands; the ranks are terminated if they have not ended STOP_GRACE_SECONDS later. Raises Diverged or
    ChildProcessError (an OSError, with the ranks' error) when the run did not end finished or stopped.
    """
    launch = launch or Launch()
    if store is None or not hasattr(store, "root"):
        raise ValueError("a distributed run (DDP) writes to a run store folder that every process can reach")
    refuse_closed_form(config)
    nproc = config.nproc_per_node
    first_node = launch.node_rank == 0
    if first_node and run_id is None:
        run_id = store.create(config.task, config)
    trainer = LaunchedRun(config, nproc * launch.nnodes)
    callbacks = list(callbacks or [])
    remove_stale_temporaries()
    with _sigterm_as_exit(), tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        config_file, stop_file, progress_file = Path(tmp, "config.json"), Path(tmp, "stop"), Path(tmp, "progress")
        Path(tmp, "pid").write_text(str(os.getpid()))
        config_file.write_text(json.dumps(config.to_dict()))
        cmd = torchrun_command(nproc, launch, str(config_file), str(Path(store.root).resolve()), run_id)
        proc = subprocess.Popen(
            cmd,
            env={**_rank_env(nproc, Path(tmp)), **store.env()},  # rank 0 opens the same database and files
            stdout=subprocess.PIPE,  # relayed to stderr: stdout stays the caller's (the CLI's last line is its JSON)
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # Ctrl-C in a terminal reaches this launcher only: it asks the ranks to stop
            preexec_fn=_die_with_launcher,
        )
        tail: collections.deque[str] = collections.deque(maxlen=40)
        threading.Thread(target=_relay_output, args=(proc, tail), daemon=True).start()
        follow = _Follower(store, run_id if first_node else None, trainer, callbacks, progress_file)
        follow.emit("on_fit_start")
        asked = None  # when a stop was asked for
        deadline = time.monotonic() + float(os.environ.get("DLSTUDIO_RENDEZVOUS_TIMEOUT") or RENDEZVOUS_SECONDS)
        unformed = None  # why the group never formed: the rendezvous timed out, or Ctrl-C came first
        joined = Path(tmp, "joined")
        while proc.poll() is None:
            try:
                if not joined.exists() and time.monotonic() > deadline:
                    unformed = "timeout"
                    _end_group(proc)
                    break
                if asked is None and (follow.stop_wanted or (stop_event is not None and stop_event.is_set())):
                    stop_file.touch()
                    asked = time.monotonic()
                if asked is not None and time.monotonic() - asked > STOP_GRACE_SECONDS:
                    _end_group(proc)
                follow.relay()
                time.sleep(POLL_SECONDS)
            except SystemExit:  # a plain `kill` of this launcher: its ranks go with it, and its temp folder
                _end_group(proc)
                raise
            except KeyboardInterrupt:  # the first Ctrl-C stops the run as the Stop button does; a second ends it
                if asked is not None or not joined.exists():  # ranks waiting for peers read no stop file
                    unformed = None if joined.exists() else "interrupted"
                    _end_group(proc)
                stop_file.touch()
                asked = asked or time.monotonic()
        follow.relay()
    if unformed is not None:
        _never_formed(store, run_id if first_node else None, launch, unformed)
    return _outcome(store, run_id, proc.returncode, tail, trainer, follow, first_node)


@contextlib.contextmanager
def _sigterm_as_exit():
    """SIGTERM raises SystemExit while the launcher waits (main thread only), so that it cleans up as it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _never_formed(store, run_id: str | None, launch: Launch, why: str) -> None:
    """The group never formed: the run (on node 0) ends cancelled after Ctrl-C, failed after the timeout."""
    if why == "interrupted":
        if run_id is not None:
            store.set_status(run_id, "cancelled", "stopped (Ctrl-C) before the DDP group formed")
        raise KeyboardInterrupt
    seconds = float(os.environ.get("DLSTUDIO_RENDEZVOUS_TIMEOUT") or RENDEZVOUS_SECONDS)
    error = f"the DDP group did not form within {seconds:g} s (DLSTUDIO_RENDEZVOUS_TIMEOUT): {launch.waiting_for()}"
    if run_id is not None:
        store.finish(run_id, "failed", {}, {}, 0.0, error=error)
    raise TimeoutError(error)


def _die_with_launcher() -> None:
    """In torchrun's process, before it starts: SIGTERM when the launcher dies (Linux), so that a job's worker
    killed with kill -9 takes its ranks with it (torchrun passes the SIGTERM on) instead of leaving them training."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _relay_output(proc: subprocess.Popen, tail: collections.deque) -> None:
    for line in proc.stdout:
        tail.append(line.rstrip())
        sys.stderr.write(line)


def _end_group(proc: subprocess.Popen) -> None:
    """torchrun and its ranks, SIGTERM then (10 s later) SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(10)
            return
        except subprocess.TimeoutExpired:
            continue


class _Follower:
    """Relays the run's progress to the launcher's callbacks: epochs from the store, batches from rank 0's file."""

    def __init__(self, store, run_id, trainer: LaunchedRun, callbacks: list[Callback], progress_file: Path) -> None:
        self.store, self.run_id, self.trainer, self.callbacks = store, run_id, trainer, callbacks
        self.progress_file, self.last_batch, self.stop_wanted = progress_file, None, False

    def emit(self, event: str, *args) -> None:
        for cb in self.callbacks:
            try:
                getattr(cb, event)(self.trainer, *args)
            except StopTraining:  # a callback ending the run (as it would end a local one): stop the ranks
                self.stop_wanted = True

    def relay(self) -> None:
        if self.run_id is None:
            return
        for logs in self.store.history(self.run_id)[len(self.trainer.history) :]:
            self.trainer.history.append(logs)
            self.trainer.epoch = int(logs["epoch"])
            self.emit("on_epoch_end", logs)
        try:
            epoch, batch, loss = self.progress_file.read_text().split()
        except (OSError, ValueError):
            return
        if int(epoch) == self.trainer.epoch + 1 and (epoch, batch) != self.last_batch:
            self.last_batch = (epoch, batch)
            self.emit("on_batch_end", int(batch) - 1, float(loss))


def _ranks_error(returncode: int, tail: collections.deque) -> str:
    """torchrun's account of a failure: the last line that names an error, else its last line."""
    lines = [line.strip() for line in tail if line.strip()]
    named = [line for line in lines if re.search(r"\b\w*(Error|Exception|Exit)\b", line)]
    last = (named or lines or ["no output"])[-1]
    return f"the distributed run's processes ended with exit status {returncode}: {last}"


def _outcome(store, run_id, returncode, tail, trainer: LaunchedRun, follow: _Follower, first_node: bool) -> RunResult:
    from core.run.store import ACTIVE

    if not first_node:  # global rank 0, and the run, live on node 0
        status = "finished" if returncode == 0 else "failed"
        follow.emit("on_fit_end", status)
        if returncode != 0:
            raise ChildProcessError(_ranks_error(returncode, tail))
        return RunResult(None, status, config=trainer.run_config)
    run = store.get(run_id) or {"status": "failed", "details": {}, "error": None}
    if run["status"] in ACTIVE:  # the ranks died before rank 0 could record how the run ended
        error = _ranks_error(returncode, tail)
        store.finish(run_id, "failed", {}, {}, 0.0, error=error)
        run = {**run, "status": "failed", "error": error}
    trainer.status = run["status"]
    follow.emit("on_fit_end", run["status"])
    details = run.get("details") or {}
    if run["status"] == Status.DIVERGED:
        raise Diverged(details.get("stop_reason") or run.get("error") or "the training loss became NaN")
    if run["status"] not in TESTED:
        raise ChildProcessError(run.get("error") or _ranks_error(returncode, tail))
    return RunResult(
        run_id,
        run["status"],
        run.get("metrics") or {},
        details,
        store.history(run_id),
        run.get("seconds") or 0.0,
        None,  # the model is in the run's checkpoint
        details.get("stop_reason"),
        run["config"],  # as it trained (the fit-to-data rule), read back from the store
    )


def add_launch_flags(parser: argparse.ArgumentParser) -> None:
    """`train`'s DDP flags beyond --nproc-per-node (a run setting): where the processes meet, passed to torchrun."""
    group = parser.add_argument_group("DDP across machines (passed to torchrun)")
    group.add_argument("--nnodes", type=int, default=1, help="machines taking part (default 1)")
    group.add_argument("--node-rank", type=int, default=0, help="this machine's number, 0 to nnodes - 1")
    group.add_argument("--master-addr", default="127.0.0.1", help="address of machine 0 (default 127.0.0.1)")
    group.add_argument("--master-port", type=int, default=29500, help="a free port on machine 0 (default 29500)")


def launch_from_args(args) -> Launch | None:
    """The --nnodes ... flags as a Launch, or None when they ask for nothing beyond this machine."""
    launch = Launch(args.nnodes, args.node_rank, args.master_addr, args.master_port)
    return None if launch == Launch() else launch

"""DDP: two gloo processes on the CPU train one run under torchrun; the shards of every batch; stop and failures."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from core.run.training import Callback, Objective, Shard

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--max-batches", "4", "--seed", "3", "--json"]
ONE_THREAD = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # 2 cores: one thread per process


def shards(n: int, batch_size: int, world: int, seed: int = 0) -> list[list[torch.Tensor]]:
    """Each rank's index batches for one epoch, as the trainer sets the ranks up."""
    out = []
    for rank in range(world):
        objective = Objective()
        objective.shard = Shard(rank, world, torch.Generator().manual_seed(seed))
        out.append(list(objective.batch_indices(n, batch_size, torch.Generator().manual_seed(99 + rank))))
    return out


@pytest.mark.parametrize(("n", "batch_size", "world"), [(1257, 64, 2), (1257, 64, 3), (100, 7, 4), (65, 64, 2)])
def test_the_ranks_shards_are_disjoint_and_cover_the_training_set(n, batch_size, world):
    ranks = shards(n, batch_size, world)
    assert len({len(batches) for batches in ranks}) == 1  # every rank takes as many steps (DDP needs it)
    assert all(len(idx) > 0 for batches in ranks for idx in batches)
    seen = torch.cat([idx for batches in ranks for idx in batches])
    assert len(seen) == n and sorted(seen.tolist()) == list(range(n))  # each example exactly once
    for step in zip(*ranks):  # one global batch per step, of at most the batch size
        assert sum(len(idx) for idx in step) <= batch_size + world - 1


def test_one_process_batches_as_before():
    """World size 1: the batches are the seeded permutation cut into batch-size pieces, as they always were."""
    (batches,) = shards(130, 32, 1)
    expected = torch.randperm(130, generator=torch.Generator().manual_seed(99)).split(32)
    assert all(torch.equal(a, b) for a, b in zip(batches, expected, strict=True))


def run_here(command: list[str]) -> subprocess.CompletedProcess:
    """A command of this repository with one torch thread per process, its output captured."""
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=ONE_THREAD)


def train_cli(*args: str, runs: Path) -> dict:
    out = run_here([sys.executable, "-m", "core", "train", "image", *TINY, "--runs", str(runs), *args])
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_gloo_processes_train_one_run_like_one_process(tmp_path):
    one = train_cli(runs=tmp_path / "one")
    two = train_cli("--nproc-per-node", "2", runs=tmp_path / "two")
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert two["status"] == "finished"
    runs = RunStore(tmp_path / "two").list()
    assert [r["id"] for r in runs] == [two["run_id"]]  # one run, written by rank 0 alone
    run = runs[0]
    assert run["config"].nproc_per_node == 2 and run["details"]["world_size"] == 2
    assert (tmp_path / "two" / two["run_id"] / "checkpoint.pt").exists()
    assert len(RunStore(tmp_path / "two").history(two["run_id"])) == 2
    # The same global batches and learning rate: the same model within seed noise (per-rank dropout, and the
    # second epoch's order drawn apart from the augmentation's numbers).
    assert abs(one["metrics"]["accuracy"] - two["metrics"]["accuracy"]) < 0.06


def test_torchrun_runs_the_cli_as_it_is(tmp_path):
    """`torchrun --nproc-per-node 2 -m core train ...`: each rank joins the group itself; rank 0 prints and saves."""
    out = run_here(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        + ["-m", "core", "train", "image", *TINY, "--runs", str(tmp_path)]
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 1 prints nothing
    result = json.loads(lines[0])
    assert result["world_size"] == 2 and result["status"] == "finished"
    assert [r["id"] for r in RunStore(tmp_path).list()] == [result["run_id"]]


class StopAfterFirstEpoch(Callback):
    def __init__(self, event: threading.Event) -> None:
        self.event, self.batches = event, 0

    def on_batch_end(self, trainer, batch, loss):
        self.batches += 1

    def on_epoch_end(self, trainer, logs):
        self.event.set()


def test_a_stop_ends_every_rank_at_one_batch_and_keeps_the_model(tmp_path, monkeypatch):
    """The launcher as a job uses it: run_experiment with nproc_per_node 2 and a stop event (the Stop button)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    store, stop = RunStore(tmp_path), threading.Event()
    config = make_config("image", "mlp", dataset="digits", epochs=200, max_batches=3, nproc_per_node=2)
    watch = StopAfterFirstEpoch(stop)
    result = run_experiment(config, store, callbacks=[watch], stop_event=stop)
    assert result.status == "stopped" and result.stop_reason == "stopped by the user"
    assert 1 <= len(result.history) < 200 and result.metrics["accuracy"] > 0  # evaluated on the test split
    assert store.get(result.run_id)["status"] == "stopped"
    assert (tmp_path / result.run_id / "checkpoint.pt").exists()


def test_a_failing_run_fails_with_its_reason_and_a_closed_form_model_is_refused(tmp_path):
    out = run_here(
        [sys.executable, "-m", "core", "train", "image", "--data", str(tmp_path / "nowhere"), "--nproc-per-node", "2"]
        + ["--runs", str(tmp_path / "runs")]
    )
    assert out.returncode == 2 and "nowhere" in out.stderr.splitlines()[-1]
    (run,) = RunStore(tmp_path / "runs").list()
    assert run["status"] == "failed" and "nowhere" in run["error"]
    with pytest.raises(ValueError, match="closed form"):
        run_experiment(make_config("recsys", "ease", nproc_per_node=2), RunStore(tmp_path / "runs"))


def _far_from_standard() -> torch.Tensor:
    """The training inputs of the recalibration test: mean 4, variance 4, far from batch norm's start (0, 1)."""
    return torch.randn(512, 3, generator=torch.Generator().manual_seed(0)) * 2 + 4


def _recalibrated_rank(rank: int, init: str, out) -> None:
    import torch.distributed as dist
    from torch import nn

    from core.exec.ddp import DDPStrategy
    from core.run.training import TensorClassification, TrainConfig, Trainer

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        x = _far_from_standard()
        y = (x[:, 0] > 4).long()
        model = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2))
        objective = TensorClassification(x, y, x[:64], y[:64])
        Trainer(model, objective, TrainConfig(epochs=1, batch_size=256), strategy=DDPStrategy()).fit()
        out.put((rank, model[0].running_mean.tolist(), model[0].running_var.tolist()))
    finally:
        dist.destroy_process_group()


def test_every_rank_keeps_the_same_recomputed_batch_norm_statistics(tmp_path):
    """Each rank recomputes batch norm's statistics on its shard; the ranks average them, so all keep one set,
    that of the whole training set (a rank whose own differed would evaluate another model)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    out = ctx.Queue()
    init = f"file://{tmp_path / 'rendezvous'}"
    ranks = [ctx.Process(target=_recalibrated_rank, args=(r, init, out)) for r in range(2)]
    for p in ranks:
        p.start()
    results = dict((r, (m, v)) for r, m, v in (out.get(timeout=120) for _ in ranks))
    for p in ranks:
        p.join(60)
    assert [p.exitcode for p in ranks] == [0, 0]
    assert results[0] == results[1]
    x = _far_from_standard()
    mean, var = map(torch.tensor, results[0])
    assert torch.allclose(mean, x.mean(0), atol=0.1) and torch.allclose(var, x.var(0), rtol=0.15)

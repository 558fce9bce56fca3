"""The trainer's strategy for one rank of a DDP process group: its shard, the wrapped model, and the ranks agreeing.

core.exec.distributed.join forms the group and hands run_experiment a DDPStrategy, which hands it to the Trainer;
the trainer calls it at fixed points of its loop (core.run.training.Strategy) and holds no torch.distributed itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from core.run.training import Shard, Strategy, Trainer


class DDPStrategy(Strategy):
    """This process as one rank of the initialised process group (gloo on the CPU, NCCL on CUDA).

    Each rank trains its shard of every batch (Shard): the global batch stays the batch size, and the gradients
    averaged over the ranks are those of the whole batch. Every batch's loss and stop requests are agreed in one
    small all-reduce, so that every rank diverges or stops at the same batch.
    """

    def __init__(self) -> None:
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.comm_device = torch.device("cpu")  # where collectives' tensors live: the GPU under NCCL (set up)
        self.wrapped = False  # DistributedDataParallel averages the gradients in backward

    def setup(self, trainer: Trainer) -> nn.Module:
        """This rank's shard of every batch, and the model wrapped so that backward averages the gradients; an
        objective that calls the model's own methods gets the bare model, its gradients averaged by
        `average_gradients`. Every rank starts from rank 0's weights either way."""
        config = trainer.config
        if config.batch_size < self.world_size:
            raise ValueError(
                f"batch size {config.batch_size} is split across {self.world_size} processes: it must be at "
                f"least {self.world_size}"
            )
        trainer.objective.shard = Shard(self.rank, self.world_size, torch.Generator().manual_seed(config.seed))
        self.comm_device = trainer.device if dist.get_backend() == "nccl" else torch.device("cpu")
        self.wrapped = trainer.objective.loss_calls_forward
        if self.wrapped:
            ids = [torch.cuda.current_device()] if trainer.device.type == "cuda" else None  # set to LOCAL_RANK's GPU
            return nn.parallel.DistributedDataParallel(trainer.model, device_ids=ids)  # starts from rank 0's weights
        for tensor in trainer.model.state_dict().values():
            dist.broadcast(tensor, 0)
        return trainer.model

    def average_gradients(self, model: nn.Module) -> None:
        """For an objective that cannot go through DDP's wrapper: every rank's gradients averaged.

        One all-reduce of all gradients flattened into one buffer. A parameter no rank used keeps no gradient,
        as it would in one process.
        """
        if self.wrapped:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
        dist.all_reduce(flat)
        flat /= self.world_size
        for p, grad in zip(params, flat.split([p.numel() for p in params])):
            if p.grad is not None or grad.any():
                p.grad = grad.view_as(p)

    def reduce_batch(self, loss: float, size: int, stop: bool) -> tuple[float, bool]:
        """The batch's mean loss over every rank and whether any rank was asked to stop: one small all-reduce."""
        sums = torch.tensor([loss * size, size, float(stop)], dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(sums)
        total, n, stops = sums.tolist()
        return total / max(n, 1), stops > 0

    def reduce_epoch(self, total: float, n: int, extras: dict[str, float]) -> tuple[float, int, dict[str, float]]:
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, (total, n, extras))
        merged: dict[str, float] = {}
        for _, _, sums in parts:
            for k, v in sums.items():
                merged[k] = merged.get(k, 0.0) + v
        return sum(p[0] for p in parts), sum(p[1] for p in parts), merged

    def val_share(self, batches: Iterable[Sequence]) -> Iterable[Sequence]:
        """Every world-th validation batch, from this rank's own: `reduce_epoch` adds the ranks' sums up."""
        return itertools.islice(batches, self.rank, None, self.world_size)

    def average_buffers(self, tensors: Iterable[torch.Tensor]) -> None:
        for tensor in tensors:
            shared = tensor.to(self.comm_device)
            dist.all_reduce(shared)
            tensor.copy_(shared / self.world_size)

"""Multi-process data-parallel training (PyTorch DDP) with the shared loop, for ``torchrun``.

    torchrun --nproc_per_node=N scripts/train_ddp.py --out DIR <overrides>

Every rank builds the same data, model (same seed; DDP then broadcasts rank 0's parameters) and
batch order, and runs :func:`initlab.training.train_model` unchanged on a model wrapper whose
``objective`` takes the loop's GLOBAL batch, keeps this rank's contiguous shard, and returns a
loss whose value is the global batch mean (all-reduced: every rank logs, detects divergence and
schedules alike) and whose gradient, after DDP's average over ranks, is exactly the gradient of
the global batch mean, also for a last batch that does not split evenly. So N processes with
batch B compute what one process with batch B computes (up to summation order). Rank 0 owns the
Run: it logs, checkpoints and writes summary.json; the other ranks read its checkpoint to resume.

Batch norm computes statistics per shard (as any DDP run without SyncBatchNorm); dropout masks
differ from a single process. Evaluation runs on every rank in full, unsharded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from initlab.config import ConfigError
from initlab.run import NullRun, read_checkpoint


class _Objective(nn.Module):
    """DDP synchronizes gradients of what runs through its forward: route ``objective`` there."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model.objective(x, y)


class ShardedObjective(nn.Module):
    """The model as the loop sees it under DDP (see the module docstring)."""

    def __init__(self, model: nn.Module, device_ids: list[int] | None = None) -> None:
        super().__init__()
        self.model = model
        self.ddp = nn.parallel.DistributedDataParallel(_Objective(model), device_ids=device_ids)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        if not (self.training and torch.is_grad_enabled()):
            return self.model.objective(x, y)
        n = len(x)
        if n < self.world:
            raise ConfigError(f"task.batch_size: a batch of {n} cannot feed {self.world} ranks")
        lo, hi = n * self.rank // self.world, n * (self.rank + 1) // self.world
        values = self.ddp(x[lo:hi], y[lo:hi])
        local_sum = values["loss"].sum()
        total = local_sum.detach().clone()
        dist.all_reduce(total)
        # gradient: world/n * d(local sum), averaged over ranks by DDP = d(global mean)
        scaled = local_sum * (self.world / n)
        loss = scaled + (total / n - scaled.detach())
        return {**values, "loss": loss.reshape(1)}

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> Any:
        return self.model.load_state_dict(state, strict)


class PeerRun(NullRun):
    """What ranks > 0 see of the run: rank 0's checkpoint to resume from, nothing to write."""

    def __init__(self, out_dir: Path, config_hash: str) -> None:
        self.out_dir, self.hash = Path(out_dir), config_hash

    def load_checkpoint(self) -> dict[str, Any] | None:
        return read_checkpoint(self.out_dir / "checkpoint.pt", self.hash)


def train_ddp(resolved: dict[str, Any], out_dir: str | Path) -> dict[str, Any] | None:
    """Run the config's training task data-parallel; rank 0 returns the summary."""
    from initlab.data import build_data
    from initlab.main import guard_output_dir
    from initlab.run import Run, config_hash, seed_everything
    from initlab.setup import parse_config
    from initlab.tasks.train_vae import (
        GRID_FILE,
        TrainVAEConfig,
        evaluate_at_start,
        save_vae_grid,
    )
    from initlab.training import TrainLoopConfig, train_model

    setup = parse_config(resolved)
    if not isinstance(setup.task, TrainLoopConfig):
        raise ConfigError(f"task.name: {setup.task.name} is not a training task (train, train_vae)")
    device = setup.device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    try:
        out_dir = Path(out_dir)
        earlier = guard_output_dir(out_dir, config_hash(resolved))
        dist.barrier()
        if earlier is not None:
            return {**earlier, "skipped": True} if rank == 0 else None
        seed_everything(setup.seed, setup.deterministic, device)
        run = (
            Run(out_dir, resolved, setup.seed, device, setup.logger)
            if rank == 0
            else PeerRun(out_dir, config_hash(resolved))
        )
        data = build_data(setup.data).to(device)
        model = setup.new_model(data, run if rank == 0 else None).to(device)
        if rank == 0 and isinstance(setup.task, TrainVAEConfig):  # reads the model, changes nothing
            evaluate_at_start(setup.task, model, data, run)
        wrapped = ShardedObjective(model, [device.index] if device.type == "cuda" else None)
        outcome = train_model(
            wrapped, data, setup.task, setup.optim, run, seed=setup.seed,
        )  # fmt: skip
        summary = None
        if rank == 0:
            task = setup.task
            if isinstance(task, TrainVAEConfig) and task.grid_examples:
                save_vae_grid(model, data, out_dir / GRID_FILE, task.grid_examples, setup.seed)
            summary = run.finish(outcome.status, outcome.metrics, world_size=dist.get_world_size())
        dist.barrier()
        return summary
    finally:
        dist.destroy_process_group()

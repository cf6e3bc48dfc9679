"""``task=train_vae``: ``task=train`` for generative models, plus a PNG grid at the end.

The loop reports every key of the model's objective (for ``model=resnet_vae``: loss, l1, kl,
elbo) on train/val/test; ``eval_at_start`` adds one evaluation before the main phase (phase
``main_start``, step 0). ``vae_grid.png`` shows data images (resized to the model's resolution),
their reconstructions and samples from the prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from initlab.accel import AccelConfig
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.training import TrainLoopConfig, eval_autocast, evaluate_splits, train_model

GRID_FILE = "vae_grid.png"


@dataclass(kw_only=True)
class TrainVAEConfig(TaskConfig, TrainLoopConfig, AccelConfig):
    grid_examples: int = spec(min=0, help="images per row of the PNG grid; 0: no grid")
    eval_at_start: bool = spec(
        help="evaluate train/val/test once before the main phase (phase main_start, step 0): "
        "the learning curve's first point"
    )


def _tile(images: torch.Tensor) -> np.ndarray:
    """(n, C, H, W) -> one (H, n*W[, C]) row, each image scaled to [0, 1] on its own."""
    flat = images.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    scaled = ((flat - low) / (high - low).clamp_min(1e-8)).view_as(images)
    row = torch.cat(list(scaled), dim=2).permute(1, 2, 0).cpu().numpy()
    return row[..., 0] if row.shape[2] == 1 else row


def save_vae_grid(model: torch.nn.Module, data: DataBundle, path: Path, n: int, seed: int) -> None:
    """Rows: test images (resized), their reconstructions, samples from the prior."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    was_training = model.training
    model.eval()
    x, _ = data.split("test") if len(data.x_test) else data.split("train")
    x = x[:n]
    rows = [
        _tile(model.target(x)),
        _tile(model.reconstruct(x)),
        _tile(model.sample(len(x), torch.Generator().manual_seed(seed))),
    ]
    model.train(was_training)
    grid = np.concatenate(rows, axis=0)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    plt.imsave(tmp, grid, cmap="gray" if grid.ndim == 2 else None)
    tmp.replace(path)


def evaluate_at_start(cfg: TrainVAEConfig, model: Any, data: DataBundle, run: Any) -> None:
    """``task.eval_at_start``: one evaluation before the main phase (row ``main_start``, step
    0), once: not again when a resume finds the main phase's checkpoint (PDI leaves
    "pdi_done"). Also called by :func:`initlab.distributed.train_ddp` (rank 0)."""
    if not cfg.eval_at_start:
        return
    saved = run.load_checkpoint()
    if saved is not None and saved.get("phase") == "train":
        return
    with eval_autocast(model, cfg.precision):
        metrics = evaluate_splits(model, data, cfg.eval_batch_size, cfg.eval_examples)
    run.log({"phase": "main_start", "step": 0, "epoch": 0, **metrics})


@TASKS.register("train_vae", TrainVAEConfig)
def train_vae_task(cfg: TrainVAEConfig, setup: RunSetup, data: DataBundle, run: Run) -> TaskResult:
    model = setup.new_model(data, run)
    if not (hasattr(model, "reconstruct") and hasattr(model, "sample")):
        raise ConfigError("task.name: train_vae needs a generative model, e.g. model=resnet_vae")
    evaluate_at_start(cfg, model, data, run)
    outcome = train_model(
        model, data, cfg, setup.optim, run, seed=setup.seed,
    )  # fmt: skip
    if cfg.grid_examples and outcome.status == "completed":
        save_vae_grid(model, data, run.out_dir / GRID_FILE, cfg.grid_examples, setup.seed)
    return TaskResult(outcome.status, outcome.metrics)

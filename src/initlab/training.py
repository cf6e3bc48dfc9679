"""The training loop every task shares: minibatch SGD/Adam with eval, checkpoints and resume.

One readable loop. Each epoch shuffles with a generator seeded by (seed, epoch), so a run resumed
from a checkpoint (even mid-epoch) sees exactly the batches an uninterrupted run sees. A loss that
becomes non-finite or exceeds ``diverge_factor`` times the first loss ends training with status
``diverged`` and the step it happened at.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from initlab.config import spec
from initlab.data import DataBundle
from initlab.data.mixup import mixup_loss
from initlab.optim import OptimConfig, build_optimizer
from initlab.run import Run

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
FAULT_ENV = "INITLAB_FAULT_AFTER_STEP"  # tests: hard-kill the process after this step


@dataclass(kw_only=True)
class TrainLoopConfig:
    """Keys of the loop (the ``train`` task's schema extends these)."""

    epochs: int = spec(min=0)
    batch_size: int = spec(min=1)
    full_batch: bool = spec(help="gradient descent on the whole training set per step")
    max_steps: int | None = spec(min=1, help="stop after this many steps in total")
    eval_every: int = spec(min=1, help="evaluate every k epochs (and at the end)")
    log_every: int = spec(min=1, help="log the training loss every k steps")
    checkpoint_every: int = spec(min=0, help="checkpoint every k epochs and at the end; 0: never")
    checkpoint_interval_s: float = spec(min=0.0, help="...but at most once per this many seconds")
    diverge_factor: float = spec(min=1.0, help="loss > factor x first loss: diverged")
    eval_batch_size: int = spec(min=1)
    precision: str = spec(
        choices=("fp32", "bf16", "fp16"),
        help="mixed precision: autocast the objective; fp16 adds loss scaling",
    )


@dataclass
class TrainOutcome:
    status: str  # completed | diverged
    metrics: dict[str, Any] = field(default_factory=dict)
    steps: int = 0


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict:
    """Every key of ``model.objective`` averaged over (x, y), in eval mode."""
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    for start in range(0, len(x), batch_size):
        values = model.objective(x[start : start + batch_size], y[start : start + batch_size])
        for key, per_example in values.items():
            totals[key] = totals.get(key, 0.0) + per_example.sum().item()
    model.train(was_training)
    return {key: total / max(len(x), 1) for key, total in totals.items()}


@torch.no_grad()
def auc_score(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, metric: str, batch_size: int
) -> float:
    """ROC AUC of ``model`` on (x, y): ``auc`` (binary) or ``mean_auc`` (multi-label, masked)."""
    from initlab.data.multitask import binary_auc, mean_auc

    was_training = model.training
    model.eval()
    logits = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    if metric == "mean_auc":
        return mean_auc(torch.sigmoid(logits), y)
    return binary_auc(logits, y)


def evaluate_splits(model: nn.Module, data: DataBundle, batch_size: int) -> dict[str, float]:
    """``evaluate`` on train/val/test, plus the data set's AUC metric where it has one."""
    metrics = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        if len(x):
            for key, value in evaluate(model, x, y, batch_size).items():
                metrics[f"{split}_{key}"] = value
            if data.metric in ("auc", "mean_auc"):
                metrics[f"{split}_{data.metric}"] = auc_score(model, x, y, data.metric, batch_size)
    return metrics


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_model(
    model: nn.Module,
    data: DataBundle,
    loop: TrainLoopConfig,
    optim: OptimConfig,
    run: Run,
    seed: int,
    phase: str = "train",
    show_progress: bool = False,
) -> TrainOutcome:
    """Train ``model`` on ``data.train``, logging rows tagged with ``phase`` through ``run``."""
    x_train, y_train = data.split("train")
    n = len(x_train)
    batch_size = n if loop.full_batch else min(loop.batch_size, n)
    batches_per_epoch = math.ceil(n / batch_size)
    total_steps = loop.epochs * batches_per_epoch
    if loop.max_steps is not None:
        total_steps = min(total_steps, loop.max_steps)
    optimizer, scheduler = build_optimizer(optim, model, total_steps)
    device_type = x_train.device.type
    amp_dtype = AMP_DTYPES.get(loop.precision)

    def autocast() -> contextlib.AbstractContextManager:
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=amp_dtype)

    scaler = torch.amp.GradScaler(device_type, enabled=loop.precision == "fp16")

    step, epoch, batch_index, first_loss = 0, 0, 0, None
    state = run.load_checkpoint()
    if state is not None and state.get("phase") == phase:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, batch_index = state["step"], state["epoch"], state["batch_index"]
        first_loss = state["first_loss"]
        _set_rng_state(state["rng"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        run.tracker.csv.keep_until(step, phase)

    last_checkpoint = time.monotonic()

    def checkpoint() -> None:
        nonlocal last_checkpoint
        last_checkpoint = time.monotonic()
        run.save_checkpoint(
            {
                "phase": phase,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
                "epoch": epoch,
                "batch_index": batch_index,
                "first_loss": first_loss,
                "rng": _rng_state(),
                "scaler": scaler.state_dict(),
            }
        )

    fault_step = int(os.environ.get(FAULT_ENV, "0")) or None
    progress = tqdm(
        total=total_steps,
        initial=step,
        desc=phase,
        disable=not show_progress,
        leave=False,
        dynamic_ncols=True,
    )
    metrics: dict[str, Any] = {}
    mixup_alpha = getattr(loop, "mixup_alpha", 0.0)
    model.train()
    while epoch < loop.epochs and step < total_steps:
        order = epoch_order(n, seed, epoch).to(x_train.device)
        while batch_index < batches_per_epoch and step < total_steps:
            idx = order[batch_index * batch_size : (batch_index + 1) * batch_size]
            with autocast():
                if mixup_alpha:  # initlab.data.mixup (task=train's mixup_alpha)
                    loss = mixup_loss(model, x_train[idx], y_train[idx], mixup_alpha, seed, step)
                else:
                    loss = model.objective(x_train[idx], y_train[idx])["loss"].float().mean()
            value = loss.item()
            first_loss = value if first_loss is None else first_loss
            if not math.isfinite(value) or value > loop.diverge_factor * max(first_loss, 1e-8):
                run.log({"step": step, "epoch": epoch, "phase": phase, "train_batch_loss": value})
                progress.close()
                return TrainOutcome(
                    "diverged",
                    {**metrics, "diverged_at_step": step, "loss_at_divergence": value},
                    step,
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # a no-op scale unless precision is fp16
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            batch_index += 1
            progress.update(1)
            if step % loop.log_every == 0:
                run.log(
                    {
                        "step": step,
                        "epoch": epoch,
                        "phase": phase,
                        "train_batch_loss": value,
                        "lr": scheduler.get_last_lr()[0],
                    }
                )
                progress.set_postfix(loss=f"{value:.4f}", refresh=False)
            if fault_step is not None and step == fault_step:
                os._exit(3)  # simulate a hard kill (tests of resume)
        epoch_done = batch_index >= batches_per_epoch
        if epoch_done:
            epoch, batch_index = epoch + 1, 0
        finished = epoch >= loop.epochs or step >= total_steps
        if epoch_done and (epoch % loop.eval_every == 0 or finished):
            metrics = evaluate_splits(model, data, loop.eval_batch_size)
            run.log({"step": step, "epoch": epoch, "phase": phase, **metrics})
        due = epoch_done and epoch % max(loop.checkpoint_every, 1) == 0
        waited = time.monotonic() - last_checkpoint >= loop.checkpoint_interval_s
        if loop.checkpoint_every and (finished or (due and waited)):
            checkpoint()
    progress.close()
    if not metrics:
        metrics = evaluate_splits(model, data, loop.eval_batch_size)
    return TrainOutcome("completed", {**metrics, "steps": step, "epochs": epoch}, step)

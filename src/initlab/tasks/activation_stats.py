"""``task=activation_stats``: per-layer mean and variance through a network at init (E3).

One freshly initialized model (``setup.new_model``) sees ``samples`` inputs of the chosen split,
flattened and z-scored per feature within that batch (features with zero spread are left at 0),
so every input feature has mean 0 and variance 1 as the SNN theory assumes; ``input_mean`` and
``input_var`` then move them off that fixed point (``x = input_mean + sqrt(input_var) * z``) to
test that the network draws them back (E3's attraction). ``mode: train`` keeps
dropout (alpha-dropout for SNNs) and BatchNorm's batch statistics active, as during training.
``activations.csv`` holds one row per (layer, kind) with kind ``pre`` (Linear outputs) or
``post`` (layer outputs, after the activation and dropout), at every layer or, with
``record_layers: k``, at k log-spaced layers (the first and the last among them; the forward
still goes through all); see :mod:`initlab.analysis.activations`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
import torch

from initlab.analysis.activations import activation_stats
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.tracking import atomic_write_text


@dataclass(kw_only=True)
class ActivationStatsConfig(TaskConfig):
    samples: int = spec(min=2, help="inputs taken from the split (all if fewer)")
    split: str = spec(choices=("train", "val", "test"))
    mode: str = spec(choices=("train", "eval"), help="train: dropout and batch statistics active")
    standardize_features: bool = spec(help="z-score every input feature within the batch")
    input_mean: float = spec(help="mean every input feature is moved to: x = mean + sqrt(var) * z")
    input_var: float = spec(
        min=0.0, min_exclusive=True, help="variance every input feature is scaled to (after z)"
    )
    record_layers: int | None = spec(
        min=2,
        help="keep statistics at this many log-spaced layers (first and last among them; the "
        "forward goes through all); null: every layer",
    )


def shifted_inputs(x: torch.Tensor, mean: float, var: float) -> torch.Tensor:
    """``mean + sqrt(var) * x``: standardized inputs moved off the SNN fixed point (0, 1) to
    (``mean``, ``var``). The defaults (0, 1) return ``x`` itself, bit for bit."""
    if mean == 0.0 and var == 1.0:
        return x
    return (mean + var**0.5 * x.double()).to(x.dtype)


def standardized_inputs(x: torch.Tensor, standardize: bool) -> torch.Tensor:
    """``x`` with each feature (flattened) at mean 0 and variance 1 over the batch."""
    if not standardize:
        return x
    flat = x.flatten(1).double()
    mean = flat.mean(dim=0, keepdim=True)
    std = flat.std(dim=0, unbiased=False, keepdim=True)
    z = torch.where(std > 0, (flat - mean) / torch.where(std > 0, std, 1.0), 0.0)
    return z.to(x.dtype).reshape(x.shape)


@TASKS.register("activation_stats", ActivationStatsConfig)
def activation_stats_task(
    cfg: ActivationStatsConfig, setup: RunSetup, data: DataBundle, run: Run
) -> TaskResult:
    x, _ = data.split(cfg.split)
    if len(x) < 2:
        raise ConfigError(f"task.split: the {cfg.split} split has {len(x)} examples; need >= 2")
    x = standardized_inputs(x[: cfg.samples], cfg.standardize_features)
    x = shifted_inputs(x, cfg.input_mean, cfg.input_var)
    model = setup.new_model(data, run)
    model.train(cfg.mode == "train")
    rows = [asdict(r) for r in activation_stats(model, x.to(setup.device), cfg.record_layers)]
    frame = pd.DataFrame(rows)
    atomic_write_text(run.out_dir / "activations.csv", frame.to_csv(index=False))
    metrics: dict[str, float] = {"samples": float(len(x))}
    for kind, part in frame.groupby("kind"):
        last = part[part["layer"] == part["layer"].max()].iloc[0]
        metrics[f"{kind}_mean_last"] = float(last["mean"])
        metrics[f"{kind}_var_last"] = float(last["var"])
        metrics[f"{kind}_max_abs_mean"] = float(part["mean"].abs().max())
        metrics[f"{kind}_max_abs_var_minus_1"] = float((part["var"] - 1.0).abs().max())
    return TaskResult("completed", metrics)

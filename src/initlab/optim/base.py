"""Optimizer registry and the per-step learning-rate schedule every optimizer shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from initlab.config import ConfigError, spec
from initlab.registry import Registry

OPTIMIZERS: Registry = Registry("optim", "initlab.optim")


@dataclass(kw_only=True)
class OptimConfig:
    name: str
    lr: float = spec(min=0.0, min_exclusive=True)
    weight_decay: float = spec(min=0.0)
    schedule: str = spec(choices=("none", "cosine", "step"))
    warmup_steps: int = spec(min=0, help="linear warm-up from 0 over this many steps")
    milestones: list[float]
    gamma: float = spec(min=0.0, min_exclusive=True, help="step schedule: lr factor")

    def validate(self) -> None:
        if any(not 0.0 < m < 1.0 for m in self.milestones):
            raise ConfigError(
                f"milestones: {self.milestones} must be fractions of training in (0, 1)"
            )


def lr_factor(cfg: OptimConfig, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total_steps``."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = step / max(total_steps, 1)
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    if cfg.schedule == "step":
        return cfg.gamma ** sum(progress >= m for m in cfg.milestones)
    return 1.0


def build_optimizer(
    cfg: OptimConfig, params, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    optimizer = OPTIMIZERS.build(cfg, list(params))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(cfg, step, total_steps)
    )
    return optimizer, scheduler

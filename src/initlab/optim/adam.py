"""Adam (AdamW when ``decoupled`` is set)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from initlab.config import ConfigError, spec
from initlab.optim.base import OPTIMIZERS, OptimConfig


@dataclass(kw_only=True)
class AdamConfig(OptimConfig):
    lr: float = spec(min=0.0, min_exclusive=True)
    betas: list[float]
    eps: float = spec(min=0.0, min_exclusive=True)
    decoupled: bool = spec(help="AdamW-style weight decay")

    def validate(self) -> None:
        super().validate()
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas: {self.betas} must be two numbers in [0, 1)")


@OPTIMIZERS.register("adam", AdamConfig)
def build_adam(cfg: AdamConfig, params: list) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if cfg.decoupled else torch.optim.Adam
    return cls(
        params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
    )

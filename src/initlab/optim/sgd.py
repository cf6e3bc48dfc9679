"""Stochastic gradient descent (with optional momentum)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from initlab.config import ConfigError, spec
from initlab.optim.base import OPTIMIZERS, OptimConfig


@dataclass(kw_only=True)
class SGDConfig(OptimConfig):
    momentum: float = spec(min=0.0, max=0.999)
    nesterov: bool

    def validate(self) -> None:
        super().validate()
        if self.nesterov and self.momentum == 0.0:
            raise ConfigError("nesterov: true needs momentum > 0")


@OPTIMIZERS.register("sgd", SGDConfig)
def build_sgd(cfg: SGDConfig, params: list) -> torch.optim.SGD:
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )

"""``he_branch_scaled``: He's variance everywhere, then the last weight layer of every residual
branch multiplied by L^(-power) (L branches; ``power`` 0.5 by default).

A variance-controlled ResNet without normalization: with He's branch x + W2 relu(W1 x) the
forward second moment grows by 1 + 2 / L^(2 power) per block instead of 3, so for power = 1/2 it
ends near e^2 times the stem's after L blocks instead of 3^L (the plain He ResNet's logits at
depth 32 are ~10^8). The branches stay nonzero (unlike Fixup's), so their angles change with
depth; ``initlab.analysis.features.theory_for`` reads the gains from the weights, so the residual
recursion applies as for He's. On a model without residual branches it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from initlab.config import ConfigError, spec
from initlab.inits.base import INITS, InitConfig, InitContext, variance_scaling


@dataclass(kw_only=True)
class BranchScaledConfig(InitConfig):
    power: float = spec(min=0.0, max=4.0, help="last branch layer x L^(-power), L branches")


@INITS.register("he_branch_scaled", BranchScaledConfig)
@torch.no_grad()
def he_branch_scaled_init(cfg: BranchScaledConfig, model: nn.Module, context: InitContext) -> None:
    branches = model.residual_branches() if hasattr(model, "residual_branches") else []
    if not branches:
        raise ConfigError(
            f"init.name: he_branch_scaled needs a model with residual branches (resnet); "
            f"{type(model).__name__} has none"
        )
    variance_scaling(model, lambda fan_in, fan_out: 2.0 / fan_in, cfg.distribution)
    scale = len(branches) ** (-cfg.power)
    for branch in branches:
        list(branch.weight_layers)[-1].weight.mul_(scale)

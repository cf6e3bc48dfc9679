"""Fixup (Zhang, Dauphin & Ma, ICLR 2019) for residual networks without normalization.

For L residual branches of m weight layers each: draw every weight layer with He's variance,
multiply the inner layers of each branch by L^(-1/(2m-2)), set the last layer of every branch
and the final classifier to zero, scalar biases to 0 and the per-branch multiplier to 1.
"""

from __future__ import annotations

import torch
from torch import nn

from initlab.config import ConfigError
from initlab.inits.base import INITS, NORM_LAYERS, InitConfig, InitContext, variance_scaling


def fixup_scale(num_branches: int, layers_per_branch: int) -> float:
    return num_branches ** (-1.0 / (2 * layers_per_branch - 2))


@INITS.register("fixup", InitConfig)
@torch.no_grad()
def fixup_init(cfg: InitConfig, model: nn.Module, context: InitContext) -> None:
    branches = model.residual_branches() if hasattr(model, "residual_branches") else []
    if not branches:
        raise ConfigError(
            f"init.name: fixup needs a model with residual branches (resnet); "
            f"{type(model).__name__} has none"
        )
    if any(isinstance(m, NORM_LAYERS) for m in model.modules()):
        raise ConfigError("init.name: fixup replaces normalization; use a model with norm=none")
    if not all(b.has_fixup_scalars for b in branches):
        raise ConfigError(
            "init.name: fixup needs the scalar biases and multipliers of its paper in every "
            "branch; set model.scalar_affine=true"
        )
    variance_scaling(model, lambda fan_in, fan_out: 2.0 / fan_in, cfg.distribution)
    num_branches = len(branches)
    for branch in branches:
        layers = list(branch.weight_layers)
        scale = fixup_scale(num_branches, len(layers))
        for layer in layers[:-1]:
            layer.weight.mul_(scale)
        layers[-1].weight.zero_()
        if layers[-1].bias is not None:
            layers[-1].bias.zero_()
    model.classifier.weight.zero_()
    model.classifier.bias.zero_()

"""Initializer registry and the helpers the variance-scaling schemes share.

An initializer is called as ``builder(cfg, model, context)`` and changes the model in place.
Most look only at the model; ``context`` carries the data and the run for those that train
(PDI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from initlab.config import spec
from initlab.data.bundle import DataBundle
from initlab.registry import Registry

INITS: Registry = Registry("init", "initlab.inits")
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


@dataclass(kw_only=True)
class InitConfig:
    name: str
    distribution: str = spec(choices=("normal", "uniform", "truncated_normal"))


@dataclass
class InitContext:
    data: DataBundle | None = None
    run: Any = None  # initlab.run.Run, for initializers that train and log
    # how the task evaluates (initializers that train, e.g. PDI, evaluate the same way)
    eval_batch_size: int = 1024
    eval_examples: int | None = None
    precision: str = "fp32"
    micro_batch: int | None = None  # the task's pieces per batch (initlab.training.fit)


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out, in) or Conv (out, in, *kernel) weight."""
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def fill_with_variance(weight: torch.Tensor, variance: float, distribution: str) -> None:
    """Zero-mean draw of exactly ``variance`` for normal, uniform and 2-sigma-truncated normal."""
    std = math.sqrt(variance)
    if distribution == "normal":
        weight.normal_(0.0, std)
    elif distribution == "uniform":
        bound = math.sqrt(3.0) * std
        weight.uniform_(-bound, bound)
    elif distribution == "truncated_normal":
        # N(0, s^2) truncated at +-2s has variance 0.774597 s^2; correct for it.
        truncated_var = 1.0 - 4.0 * math.exp(-2.0) / (
            math.sqrt(2.0 * math.pi) * math.erf(math.sqrt(2.0))
        )
        s = std / math.sqrt(truncated_var)
        nn.init.trunc_normal_(weight, 0.0, s, -2.0 * s, 2.0 * s)
    else:
        raise ValueError(f"unknown distribution {distribution!r}")


@torch.no_grad()
def reset_non_weight_parameters(model: nn.Module) -> None:
    """Biases to zero, norm layers to identity, Fixup scalars to (bias 0, scale 1).

    Residual branches built with ``zero_last_norm`` get their last norm layer's scale back to 0.
    """
    from initlab.models.base import ResidualBranch, ScalarBias, ScalarScale

    for module in model.modules():
        if isinstance(module, WEIGHT_LAYERS) and module.bias is not None:
            module.bias.zero_()
        elif isinstance(module, NORM_LAYERS) and getattr(module, "weight", None) is not None:
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, ScalarBias):
            module.bias.zero_()
        elif isinstance(module, ScalarScale):
            module.scale.fill_(1.0)
    for module in model.modules():
        if isinstance(module, ResidualBranch):
            module.zero_last_norm_scale()


def variance_scaling(model: nn.Module, variance_of_fans, distribution: str) -> None:
    """Every weight layer drawn with variance ``variance_of_fans(fan_in, fan_out)``."""
    for module in model.modules():
        if isinstance(module, WEIGHT_LAYERS):
            fill_with_variance(module.weight, variance_of_fans(*fans(module.weight)), distribution)
    reset_non_weight_parameters(model)


def initialize(model: nn.Module, cfg: InitConfig, context: InitContext | None = None) -> None:
    """Apply the initializer named by ``cfg.name`` to ``model`` in place."""
    INITS.build(cfg, model, context or InitContext())

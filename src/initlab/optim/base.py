"""Optimizer registry, parameter groups and the per-step learning-rate schedule they share.

``scalar_lr_scale``: the one-element parameters of Fixup's scalar biases and multipliers train at
``lr * scalar_lr_scale`` (the Fixup CIFAR recipe: 0.1); every other parameter at ``lr``. It needs
the model (pass the module to :func:`build_optimizer`), as a bare parameter list cannot tell
which tensors are those scalars.

``bias_lr_scale``: every bias and scale parameter trains at ``lr * bias_lr_scale``: each
parameter whose own name is ``bias`` or ``scale`` (Fixup's scalar biases and multipliers, the
classifier's bias, any layer's bias vector), as the Fixup authors' CIFAR training script groups
its parameters (by "bias" / "scale" in the name; 0.1 there). The two keys are exclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

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
    scalar_lr_scale: float = spec(
        min=0.0, min_exclusive=True, help="lr factor of Fixup's scalar biases and multipliers"
    )
    bias_lr_scale: float = spec(
        min=0.0, min_exclusive=True, help="lr factor of every bias and scale parameter"
    )

    def validate(self) -> None:
        if self.scalar_lr_scale != 1.0 and self.bias_lr_scale != 1.0:
            raise ConfigError(
                "scalar_lr_scale and bias_lr_scale: set one (bias_lr_scale covers the scalars)"
            )
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


def scalar_parameters(model: nn.Module) -> list[torch.Tensor]:
    """Fixup's scalar biases and multipliers of ``model`` (the ScalarBias/ScalarScale modules)."""
    from initlab.models.base import ScalarBias, ScalarScale

    return [
        p
        for m in model.modules()
        if isinstance(m, (ScalarBias, ScalarScale))
        for p in m.parameters(recurse=False)
    ]


#: own names (last part of the dotted name) of the parameters ``bias_lr_scale`` applies to
BIAS_AND_SCALE_NAMES = ("bias", "scale")


def bias_and_scale_parameters(model: nn.Module) -> list[torch.Tensor]:
    """Every parameter of ``model`` whose own name is ``bias`` or ``scale``."""
    named = model.named_parameters()
    return [p for name, p in named if name.rsplit(".", 1)[-1] in BIAS_AND_SCALE_NAMES]


def param_groups(cfg: OptimConfig, params) -> list:
    """Parameter groups for ``params`` (a module or an iterable of tensors): one group at
    ``cfg.lr`` unless ``scalar_lr_scale`` or ``bias_lr_scale`` != 1, then those parameters
    apart at their own lr."""
    scale = cfg.bias_lr_scale if cfg.bias_lr_scale != 1.0 else cfg.scalar_lr_scale
    if not isinstance(params, nn.Module):
        if scale != 1.0:
            raise ValueError(
                "scalar_lr_scale / bias_lr_scale != 1 needs the model, not a parameter list"
            )
        return list(params)
    trainable = [p for p in params.parameters() if p.requires_grad]
    if scale == 1.0:
        return trainable
    if cfg.bias_lr_scale != 1.0:
        apart, name = bias_and_scale_parameters(params), "biases_scales"
    else:
        apart, name = scalar_parameters(params), "scalars"
    apart_ids = {id(p) for p in apart}
    scaled = [p for p in trainable if id(p) in apart_ids]
    others = [p for p in trainable if id(p) not in apart_ids]
    groups = [{"params": others, "name": "weights"}]
    if scaled:
        groups.append({"params": scaled, "lr": cfg.lr * scale, "name": name})
    return groups


def build_optimizer(
    cfg: OptimConfig, params, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR | None]:
    """``params``: the model (needed for ``scalar_lr_scale``) or an iterable of tensors. The
    scheduler is None when the learning rate is constant (no schedule, no warm-up): the loop
    then has nothing to step."""
    optimizer = OPTIMIZERS.build(cfg, param_groups(cfg, params))
    if cfg.schedule == "none" and not cfg.warmup_steps:
        return optimizer, None
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(cfg, step, total_steps)
    )
    return optimizer, scheduler

"""Fixup (Zhang, Dauphin & Ma, ICLR 2019) for residual networks without normalization.

For L residual branches of m weight layers each: draw every weight layer with He's variance,
multiply the inner layers of each branch by L^(-1/(2m-2)), set the last layer of every branch
and the final classifier to zero, scalar biases to 0 and the per-branch multiplier to 1.

Two choices the paper leaves open, as keys, so that the authors' CIFAR code can be matched:

* ``branch_fan``: the fan of He's variance 2 / fan for the branch layers (and every other weight
  layer drawn by this rule). ``fan_in`` (initlab's default) or ``fan_out`` = out_channels x
  kernel area, the choice of the authors' CIFAR ResNets. They differ where a branch changes
  width: on the first conv of every stage-transition block fan_out = 2 fan_in, a factor sqrt(2)
  in the standard deviation.
* ``stem``: the input layer's initializer. ``he`` (2 / fan_in, initlab's default) or ``torch``,
  PyTorch's default layer initialization (``reset_parameters``: uniform weights of variance
  1 / (3 fan_in), i.e. a standard deviation sqrt(6) = 2.45x smaller than He's), which the
  authors' code leaves on its first convolution.

Stated as a rule, the authors' choice (``branch_fan=fan_out stem=torch``): a branch's first conv
has Var = 2 / (c_out k^2) x L^(-1) for m = 2, its last conv 0, the classifier 0, the stem
1 / (3 c_in k^2); :mod:`tests.hessian.test_fixup_recipe` builds these variances independently
of this module and checks a model's empirical ones. Its CIFAR recipe also trains every bias and
scale (the scalars and the classifier's bias) at a 10x smaller learning rate
(``optim.bias_lr_scale=0.1``; ``optim.scalar_lr_scale`` covers the scalars alone), and its
network has scalar biases outside the branches too (``model.scalar_biases=official``,
:mod:`initlab.models.resnet`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from initlab.config import ConfigError, spec
from initlab.inits.base import INITS, NORM_LAYERS, InitConfig, InitContext, variance_scaling

FAN_MODES = ("fan_in", "fan_out")
STEMS = ("he", "torch")


@dataclass(kw_only=True)
class FixupConfig(InitConfig):
    branch_fan: str = spec(choices=FAN_MODES, help="fan of He's 2 / fan for the weight layers")
    stem: str = spec(choices=STEMS, help="the input layer: He, or PyTorch's default init")


def fixup_scale(num_branches: int, layers_per_branch: int) -> float:
    return num_branches ** (-1.0 / (2 * layers_per_branch - 2))


@INITS.register("fixup", FixupConfig)
@torch.no_grad()
def fixup_init(cfg: FixupConfig, model: nn.Module, context: InitContext) -> None:
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
    if cfg.branch_fan == "fan_in":
        variance_scaling(model, lambda fan_in, fan_out: 2.0 / fan_in, cfg.distribution)
    else:
        variance_scaling(model, lambda fan_in, fan_out: 2.0 / fan_out, cfg.distribution)
    if cfg.stem == "torch":
        stem = getattr(model, "stem", None)
        if stem is None or not hasattr(stem, "reset_parameters"):
            raise ConfigError(f"init.stem: torch needs a model with a stem layer; got {cfg.stem}")
        stem.reset_parameters()
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

"""He (MSRA), Xavier (Glorot), LeCun, and PyTorch's own defaults."""

from __future__ import annotations

from torch import nn

from initlab.inits.base import INITS, InitConfig, InitContext, variance_scaling


@INITS.register("he", InitConfig)
def he_init(cfg: InitConfig, model: nn.Module, context: InitContext) -> None:
    """Var(W) = 2 / fan_in (He et al. 2015), for ReLU networks."""
    variance_scaling(model, lambda fan_in, fan_out: 2.0 / fan_in, cfg.distribution)


@INITS.register("xavier", InitConfig)
def xavier_init(cfg: InitConfig, model: nn.Module, context: InitContext) -> None:
    """Var(W) = 2 / (fan_in + fan_out) (Glorot & Bengio 2010)."""
    variance_scaling(model, lambda fan_in, fan_out: 2.0 / (fan_in + fan_out), cfg.distribution)


@INITS.register("lecun", InitConfig)
def lecun_init(cfg: InitConfig, model: nn.Module, context: InitContext) -> None:
    """Var(W) = 1 / fan_in exactly (LeCun et al. 1998), the SNN initialization.

    Not ``calculate_gain('selu')``: PyTorch's 3/4 gain would break self-normalization.
    """
    variance_scaling(model, lambda fan_in, fan_out: 1.0 / fan_in, cfg.distribution)


@INITS.register("torch", InitConfig)
def torch_default_init(cfg: InitConfig, model: nn.Module, context: InitContext) -> None:
    """Keep the parameters PyTorch's layers drew at construction (under the run's seed)."""

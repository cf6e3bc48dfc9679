"""Fully connected network: [Linear -> norm -> activation -> dropout] x depth -> classifier.

``shape: conic`` starts at ``width`` and shrinks the widths geometrically towards the number of
outputs, as in the SNN paper's "conic" grids; ``rectangular`` keeps ``width`` throughout.
``weight_norm: true`` reparametrizes every hidden Linear as w = g v / ||v|| (Salimans & Kingma
2016, one g per output unit), see :class:`WeightNormLinear`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from initlab.config import spec
from initlab.models.base import (
    MODELS,
    InitlabModel,
    ModelConfig,
    activation,
    dropout_layer,
    norm_layer,
)

SHAPES = ("rectangular", "conic")


@dataclass(kw_only=True)
class MLPConfig(ModelConfig):
    shape: str = spec(choices=SHAPES, help="conic: widths shrink geometrically to the outputs")
    weight_norm: bool = spec(help="hidden Linear layers as w = g v / ||v|| (weight normalization)")


def conic_widths(width: int, depth: int, outputs: int) -> list[int]:
    """``width * r^i`` for ``i = 0..depth-1`` with ``r = (outputs / width)^(1 / depth)``.

    The classifier's ``outputs`` would be layer ``depth`` of the same geometric sequence. Widths
    are rounded and never fall below ``outputs``.
    """
    ratio = (outputs / width) ** (1.0 / depth)
    return [max(outputs, int(round(width * ratio**i))) for i in range(depth)]


def mlp_widths(cfg: MLPConfig, num_classes: int) -> list[int]:
    """Hidden widths for ``cfg.shape``: ``depth`` times ``width``, or the conic sequence."""
    if cfg.shape == "conic":
        return conic_widths(cfg.width, cfg.depth, num_classes)
    return [cfg.width] * cfg.depth


class WeightNormLinear(nn.Linear):
    """A Linear layer with weight normalization: w_i = g_i v_i / ||v_i|| per output unit i.

    ``weight`` is the direction v, so the initializers (which fill ``module.weight`` of every
    Linear in place) draw v; ``weight_g`` is g. torch's ``parametrizations.weight_norm`` is not
    used because its ``weight`` is recomputed on every access, so an in-place fill by the
    initializer would be silently lost. g is set to ||v|| on the first forward pass (after the
    initializer has run, before any optimizer step), so at initialization the layer computes
    exactly what a plain Linear with weight v does, as torch's weight_norm does when registered.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.weight_g = nn.Parameter(torch.ones(out_features, 1))
        # Persistent flag (checkpoints) mirrored in a Python bool: no device sync per forward.
        self.register_buffer("g_ready", torch.tensor(False))
        self._g_synced = False
        self.register_load_state_dict_post_hook(WeightNormLinear._forget_sync)

    @staticmethod
    def _forget_sync(module: WeightNormLinear, incompatible_keys: object) -> None:
        module._g_synced = False

    def settle(self) -> None:
        """Set g = ||v|| now unless done (the first forward does it; stacking calls it first)."""
        if not self._g_synced:
            if not self.g_ready:
                with torch.no_grad():
                    self.weight_g.copy_(self.weight.norm(dim=1, keepdim=True))
                    self.g_ready.fill_(True)
            self._g_synced = True

    def effective_weight(self) -> torch.Tensor:
        self.settle()
        return self.weight_g * self.weight / self.weight.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


def hidden_layer(cfg: ModelConfig, fan_in: int, width: int) -> nn.Sequential:
    """One hidden layer: Linear -> norm -> activation -> dropout (the MLP's building block)."""
    linear = WeightNormLinear if getattr(cfg, "weight_norm", False) else nn.Linear
    return nn.Sequential(
        linear(fan_in, width),
        norm_layer(cfg.norm, width, image=False),
        activation(cfg.activation),
        dropout_layer(cfg.dropout, cfg.dropout_type),
    )


class MLP(InitlabModel):
    """``widths``: units of each hidden layer (default ``cfg.depth`` layers of ``cfg.width``)."""

    def __init__(
        self,
        cfg: ModelConfig,
        input_shape: tuple[int, ...],
        num_classes: int,
        widths: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        widths = [cfg.width] * cfg.depth if widths is None else list(widths)
        fan_in = math.prod(input_shape)
        layers = []
        for width in widths:
            layers.append(hidden_layer(cfg, fan_in, width))
            fan_in = width
        self.widths = widths
        self.hidden = nn.ModuleList(layers)
        self.classifier = nn.Linear(fan_in, num_classes)

    def layers(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        h = x.flatten(1)
        for layer in self.hidden:
            h = layer(h)
            yield h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(h)


@MODELS.register("mlp", MLPConfig)
def build_mlp(cfg: MLPConfig, input_shape: tuple[int, ...], num_classes: int) -> MLP:
    return MLP(cfg, input_shape, num_classes, widths=mlp_widths(cfg, num_classes))

"""Fully connected network: [Linear -> norm -> activation -> dropout] x depth -> classifier."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from initlab.models.base import (
    MODELS,
    InitlabModel,
    ModelConfig,
    activation,
    dropout_layer,
    norm_layer,
)


def hidden_layer(cfg: ModelConfig, fan_in: int, width: int) -> nn.Sequential:
    """One hidden layer: Linear -> norm -> activation -> dropout (the MLP's building block)."""
    return nn.Sequential(
        nn.Linear(fan_in, width),
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

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = x.flatten(1)
        outputs = []
        for layer in self.hidden:
            h = layer(h)
            outputs.append(h)
        return outputs

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(h)


@MODELS.register("mlp", ModelConfig)
def build_mlp(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> MLP:
    return MLP(cfg, input_shape, num_classes)

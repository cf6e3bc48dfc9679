"""Fully connected network: [Linear -> norm -> activation -> dropout] x depth -> classifier."""

from __future__ import annotations

import math

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


class MLP(InitlabModel):
    def __init__(self, cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        fan_in = math.prod(input_shape)
        layers = []
        for _ in range(cfg.depth):
            layers.append(
                nn.Sequential(
                    nn.Linear(fan_in, cfg.width),
                    norm_layer(cfg.norm, cfg.width, image=False),
                    activation(cfg.activation),
                    dropout_layer(cfg.dropout, cfg.dropout_type),
                )
            )
            fan_in = cfg.width
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

"""Highway network (Srivastava et al. 2015), fully connected, as compared in the SNN paper.

A first hidden layer maps the input to ``width`` units; each of the ``depth`` highway layers
then computes h = T(x) * H(x) + (1 - T(x)) * x with H = the MLP's hidden layer
(Linear -> norm -> activation -> dropout) and the transform gate T(x) = sigmoid(W_T x + b_T).
b_T starts at ``gate_bias`` (negative: the gate is mostly closed, so each layer starts near the
identity and information is carried through depth). b_T is its own parameter rather than the
gate Linear's bias because the initializers reset every Linear bias to zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from initlab.config import spec
from initlab.models.base import MODELS, InitlabModel, ModelConfig
from initlab.models.mlp import hidden_layer


@dataclass(kw_only=True)
class HighwayConfig(ModelConfig):
    gate_bias: float = spec(help="initial transform-gate bias b_T (negative: carry at init)")


class HighwayLayer(nn.Module):
    def __init__(self, cfg: HighwayConfig, width: int) -> None:
        super().__init__()
        self.transform = hidden_layer(cfg, width, width)
        self.gate = nn.Linear(width, width, bias=False)
        self.gate_bias = nn.Parameter(torch.full((width,), float(cfg.gate_bias)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x) + self.gate_bias)
        return t * self.transform(x) + (1.0 - t) * x


class Highway(InitlabModel):
    def __init__(self, cfg: HighwayConfig, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.stem = hidden_layer(cfg, math.prod(input_shape), cfg.width)
        self.hidden = nn.ModuleList(HighwayLayer(cfg, cfg.width) for _ in range(cfg.depth))
        self.classifier = nn.Linear(cfg.width, num_classes)

    def layers(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The output of every highway layer (the stem's output is their common input)."""
        h = self.stem(x.flatten(1))
        for layer in self.hidden:
            h = layer(h)
            yield h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(h)


@MODELS.register("highway", HighwayConfig)
def build_highway(cfg: HighwayConfig, input_shape: tuple[int, ...], num_classes: int) -> Highway:
    return Highway(cfg, input_shape, num_classes)

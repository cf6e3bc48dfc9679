"""Residual networks with identity skips: x_{l+1} = x_l + F_l(x_l), for vectors or images.

The branch F is ``branch_layers`` weight layers (Linear for vector data, 3x3 Conv for images,
chosen from the data's shape) with the activation between them and the normalization before
each weight layer, so that with ``norm=none`` and two layers F(x) = W2 act(W1 x). With
``scalar_affine`` each branch carries Fixup's scalar biases and multiplier (identity at
construction). ``resnet_bn`` is the same network with BatchNorm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from initlab.config import spec
from initlab.models.base import (
    MODELS,
    InitlabModel,
    ModelConfig,
    ResidualBranch,
    activation,
    dropout_layer,
    norm_layer,
)


@dataclass(kw_only=True)
class ResNetConfig(ModelConfig):
    branch_layers: int = spec(min=2, help="weight layers per residual branch (Fixup's m)")
    scalar_affine: bool = spec(help="Fixup's scalar biases and multiplier in each branch")
    post_activation: bool = spec(help="apply the activation after the addition")


@dataclass(kw_only=True)
class ResNetBNConfig(ResNetConfig):
    norm: str = spec(choices=("batch",))


class ResNet(InitlabModel):
    def __init__(self, cfg: ResNetConfig, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.image = len(input_shape) == 3
        width = cfg.width
        if self.image:
            self.stem = nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False)
        else:
            self.stem = nn.Linear(math.prod(input_shape), width)

        def weight_layer() -> nn.Module:
            if self.image:
                return nn.Conv2d(width, width, 3, padding=1, bias=not cfg.scalar_affine)
            return nn.Linear(width, width, bias=not cfg.scalar_affine)

        drop = dropout_layer(cfg.dropout, cfg.dropout_type)
        self.blocks = nn.ModuleList(
            ResidualBranch(
                [weight_layer() for _ in range(cfg.branch_layers)],
                cfg.activation,
                cfg.norm,
                width,
                self.image,
                cfg.scalar_affine,
                drop,
            )
            for _ in range(cfg.depth)
        )
        self.after_add = activation(cfg.activation) if cfg.post_activation else nn.Identity()
        self.final = nn.Sequential(
            norm_layer(cfg.norm, width, self.image), activation(cfg.activation)
        )
        self.classifier = nn.Linear(width, num_classes)

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem(x if self.image else x.flatten(1))
        outputs = []
        for branch in self.blocks:
            h = self.after_add(h + branch(h))
            outputs.append(h)
        return outputs

    def head(self, h: torch.Tensor) -> torch.Tensor:
        h = self.final(h)
        if self.image:
            h = h.mean(dim=(2, 3))
        return self.classifier(h)


@MODELS.register("resnet", ResNetConfig)
def build_resnet(cfg: ResNetConfig, input_shape: tuple[int, ...], num_classes: int) -> ResNet:
    return ResNet(cfg, input_shape, num_classes)


@MODELS.register("resnet_bn", ResNetBNConfig)
def build_resnet_bn(cfg: ResNetBNConfig, input_shape: tuple[int, ...], num_classes: int) -> ResNet:
    return ResNet(cfg, input_shape, num_classes)

"""Plain convolutional stack: [Conv3x3 -> norm -> act -> dropout (-> max-pool)] x depth -> FC."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from initlab.config import ConfigError, spec
from initlab.models.base import (
    MODELS,
    InitlabModel,
    ModelConfig,
    activation,
    dropout_layer,
    norm_layer,
)


@dataclass(kw_only=True)
class CNNConfig(ModelConfig):
    depth: int = spec(min=1, help="convolutional layers")
    width: int = spec(min=1, help="channels of every conv layer unless `channels` is given")
    channels: list[int] | None = spec(min=1, help="per-layer channels (overrides width)")
    kernel_size: int = spec(min=1)
    pool_every: int = spec(min=0, help="2x2 max-pool after every k conv layers; 0: never")
    fc_layers: int = spec(min=0, help="hidden fully connected layers before the classifier")
    fc_width: int = spec(min=1)

    def validate(self) -> None:
        if self.channels is not None and len(self.channels) != self.depth:
            raise ConfigError(
                f"channels has {len(self.channels)} entries but depth is {self.depth}"
            )


class CNN(InitlabModel):
    def __init__(self, cfg: CNNConfig, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError(
                f"model.name: cnn needs image data (channels, height, width); "
                f"this data set gives vectors of shape {input_shape}"
            )
        channels_in, size, _ = input_shape
        widths = cfg.channels or [cfg.width] * cfg.depth
        convs = []
        for i, width in enumerate(widths):
            ops = [
                nn.Conv2d(channels_in, width, cfg.kernel_size, padding=cfg.kernel_size // 2),
                norm_layer(cfg.norm, width, image=True),
                activation(cfg.activation),
                dropout_layer(cfg.dropout, cfg.dropout_type),
            ]
            if cfg.pool_every and (i + 1) % cfg.pool_every == 0:
                if size < 2:
                    raise ConfigError(
                        f"model.pool_every: {cfg.pool_every} pools the {input_shape[1:]} images "
                        f"below one pixel with depth {cfg.depth}"
                    )
                ops.append(nn.MaxPool2d(2))
                size //= 2
            convs.append(nn.Sequential(*ops))
            channels_in = width
        self.convs = nn.ModuleList(convs)
        fan_in = channels_in * size * size
        fcs = []
        for _ in range(cfg.fc_layers):
            fcs.append(
                nn.Sequential(
                    nn.Linear(fan_in, cfg.fc_width),
                    activation(cfg.activation),
                    dropout_layer(cfg.dropout, cfg.dropout_type),
                )
            )
            fan_in = cfg.fc_width
        self.fcs = nn.ModuleList(fcs)
        self.classifier = nn.Linear(fan_in, num_classes)

    def layers(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        h = x
        for conv in self.convs:
            h = conv(h)
            yield h
        h = h.flatten(1)
        for fc in self.fcs:
            h = fc(h)
            yield h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(h.flatten(1))


@MODELS.register("cnn", CNNConfig)
def build_cnn(cfg: CNNConfig, input_shape: tuple[int, ...], num_classes: int) -> CNN:
    return CNN(cfg, input_shape, num_classes)

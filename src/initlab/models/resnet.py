"""Residual networks with identity skips: x_{l+1} = x_l + F_l(x_l), for vectors or images.

The branch F is ``branch_layers`` weight layers (Linear for vector data, 3x3 Conv for images,
chosen from the data's shape) with the activation between them and the normalization before
each weight layer, so that with ``norm=none`` and two layers F(x) = W2 act(W1 x). With
``scalar_affine`` each branch carries Fixup's scalar biases and multiplier (identity at
construction). ``resnet_bn`` is the same network with BatchNorm; its ``zero_last_bn`` starts the
last BatchNorm of every branch with gamma = 0, so every branch outputs zero at initialization.

``stages`` > 1 (images only) gives the CIFAR ResNets of He et al. used by the Fixup paper:
the ``depth`` blocks are split evenly into stages of ``width``, 2 ``width``, 4 ``width``, ...
channels; the first block of every later stage halves the resolution (stride-2 first conv) and
its skip path subsamples and pads the new channels with zeros (parameter free, as in Fixup's
code), e.g. ResNet-32 = ``depth=15 stages=3 width=16``, ResNet-110 = ``depth=54 stages=3``.

``block_shape`` and ``bottleneck`` give the widths inside a branch (the SNN paper's fully
connected ResNets): ``rectangular`` keeps every inner width at ``bottleneck * width``;
``diavolo`` narrows symmetrically from ``width`` to ``bottleneck * width`` in the middle of the
branch and widens back (see :func:`branch_widths`). With two weight layers per branch the two
shapes coincide; ``bottleneck: 1.0`` is the plain residual net.

``stem_activation`` applies the activation after the stem (the CIFAR ResNets' conv-ReLU stem);
``stem_stride`` 2 lets the stem conv halve the image (the blocks run at a quarter of the pixels).
``scalar_biases: official`` (with ``scalar_affine``) adds the scalar biases that the Fixup
authors' CIFAR network has outside the branches: one before the stem's activation
(act(stem(x) + b)), one before the classifier (classifier(pool(h) + b)), and the skip path of a
downsampling block sees the block's input plus the branch's first scalar bias (skip(x + b_1a),
the same b_1a the branch's first weight layer sees). With ``stem_activation``,
``post_activation`` and ``init: fixup`` (``branch_fan=fan_out stem=torch``) this is their
network (``conf/arm/resnet_fixup_official.yaml``; ``tests/models/test_fixup_official.py``
compares logits with an independent forward pass written from the published description).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from initlab.config import ConfigError, spec
from initlab.models.base import (
    MODELS,
    InitlabModel,
    ModelConfig,
    ResidualBranch,
    ScalarBias,
    activation,
    dropout_layer,
    norm_layer,
)

BLOCK_SHAPES = ("rectangular", "diavolo")
SCALAR_BIASES = ("branch", "official")


def branch_widths(width: int, layers: int, shape: str, bottleneck: float) -> list[int]:
    """Widths of the ``layers - 1`` hidden units between the weight layers of one branch.

    ``rectangular``: all ``bottleneck * width``. ``diavolo``: inner position ``j`` of ``layers``
    gets ``width * (b + (1 - b) |2 j / layers - 1|)``, i.e. ``b * width`` in the middle, growing
    linearly towards ``width`` at both ends. At least one unit each.
    """
    if shape == "rectangular":
        fractions = [bottleneck] * (layers - 1)
    elif shape == "diavolo":
        fractions = [
            bottleneck + (1.0 - bottleneck) * abs(2.0 * j / layers - 1.0) for j in range(1, layers)
        ]
    else:
        raise ValueError(f"unknown block shape {shape!r}")
    return [max(1, int(round(width * f))) for f in fractions]


@dataclass(kw_only=True)
class ResNetConfig(ModelConfig):
    branch_layers: int = spec(min=2, help="weight layers per residual branch (Fixup's m)")
    scalar_affine: bool = spec(help="Fixup's scalar biases and multiplier in each branch")
    post_activation: bool = spec(help="apply the activation after the addition")
    stages: int = spec(min=1, help="images: stages of doubling width and halving resolution")
    block_shape: str = spec(choices=BLOCK_SHAPES, help="widths inside a residual branch")
    bottleneck: float = spec(min=0.0, max=1.0, help="narrowest inner width / block width")
    stem_activation: bool = spec(help="apply the activation after the stem layer")
    stem_stride: int = spec(min=1, help="images: stride of the stem conv (2: blocks at half size)")
    scalar_biases: str = spec(
        choices=SCALAR_BIASES,
        help="Fixup scalars: branch (inside each branch only) or official (also before the "
        "stem activation and the classifier, and on a downsampling skip: the authors' net)",
    )

    def validate(self) -> None:
        if self.scalar_biases == "official" and not self.scalar_affine:
            raise ConfigError("scalar_biases: official needs scalar_affine=true")
        if self.depth % self.stages:
            raise ConfigError(f"depth: {self.depth} blocks do not split into {self.stages} stages")
        if self.bottleneck <= 0.0:
            raise ConfigError("bottleneck: must be > 0 (fraction of the block width)")


@dataclass(kw_only=True)
class ResNetBNConfig(ResNetConfig):
    norm: str = spec(choices=("batch",))
    zero_last_bn: bool = spec(help="gamma = 0 in the last BatchNorm of every branch")


class Downsample(nn.Module):
    """Skip path into a wider, coarser stage: stride-``stride`` subsampling, zero channels."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class ResNet(InitlabModel):
    def __init__(self, cfg: ResNetConfig, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.image = len(input_shape) == 3
        if cfg.stages > 1 and not self.image:
            raise ConfigError("model.stages: more than one stage needs image data")
        width = cfg.width
        if self.image:
            self.stem = nn.Conv2d(input_shape[0], width, 3, cfg.stem_stride, padding=1, bias=False)
        else:
            self.stem = nn.Linear(math.prod(input_shape), width)
        official = cfg.scalar_biases == "official"
        # act(stem(x) + b): the scalar bias only where the authors' network has it
        self.stem_bias = ScalarBias() if official else nn.Identity()
        self.stem_act = activation(cfg.activation) if cfg.stem_activation else nn.Identity()

        def weight_layer(c_in: int, c_out: int, stride: int) -> nn.Module:
            if self.image:
                return nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=not cfg.scalar_affine)
            return nn.Linear(c_in, c_out, bias=not cfg.scalar_affine)

        drop = dropout_layer(cfg.dropout, cfg.dropout_type)
        blocks, skips = [], []
        per_stage = cfg.depth // cfg.stages
        c_in = width
        for index in range(cfg.depth):
            c_out = width * 2 ** (index // per_stage)
            stride = 2 if c_out != c_in else 1
            inner = branch_widths(c_out, cfg.branch_layers, cfg.block_shape, cfg.bottleneck)
            sizes = [c_in, *inner, c_out]
            layers = [weight_layer(sizes[0], sizes[1], stride)]
            layers += [weight_layer(a, b, 1) for a, b in zip(sizes[1:-1], sizes[2:], strict=True)]
            blocks.append(
                ResidualBranch(
                    layers,
                    cfg.activation,
                    cfg.norm,
                    c_out,
                    self.image,
                    cfg.scalar_affine,
                    drop,
                    zero_last_norm=getattr(cfg, "zero_last_bn", False),
                )
            )
            skips.append(Downsample(stride, c_out - c_in) if c_out != c_in else nn.Identity())
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.skips = nn.ModuleList(skips)
        # official: a downsampling skip sees x + the branch's first scalar bias (a plain list:
        # those modules are registered in their branch already)
        self._skip_biases = [
            b.scalars()[0][0] if official and isinstance(s, Downsample) else None
            for b, s in zip(blocks, skips, strict=True)
        ]
        self.after_add = activation(cfg.activation) if cfg.post_activation else nn.Identity()
        self.final = nn.Sequential(
            norm_layer(cfg.norm, c_in, self.image), activation(cfg.activation)
        )
        self.head_bias = ScalarBias() if official else nn.Identity()
        self.classifier = nn.Linear(c_in, num_classes)

    def layers(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        h = self.stem_act(self.stem_bias(self.stem(x if self.image else x.flatten(1))))
        for branch, skip, bias in zip(self.blocks, self.skips, self._skip_biases, strict=True):
            shortcut = skip(h if bias is None else bias(h))
            h = self.after_add(shortcut + branch(h))
            yield h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        h = self.final(h)
        if self.image:
            h = h.mean(dim=(2, 3))
        return self.classifier(self.head_bias(h))


@MODELS.register("resnet", ResNetConfig)
def build_resnet(cfg: ResNetConfig, input_shape: tuple[int, ...], num_classes: int) -> ResNet:
    return ResNet(cfg, input_shape, num_classes)


@MODELS.register("resnet_bn", ResNetBNConfig)
def build_resnet_bn(cfg: ResNetBNConfig, input_shape: tuple[int, ...], num_classes: int) -> ResNet:
    return ResNet(cfg, input_shape, num_classes)

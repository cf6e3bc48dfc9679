"""What every initlab model offers beyond ``forward``, and the building blocks they share.

Tasks never inspect config names: they ask the model. ``layer_outputs(x)`` (``layers(x)``: one
at a time) gives the hidden representation after every layer (every hidden layer of an MLP,
every residual block of a ResNet) for angle and distance measurements; ``residual_branches()``
lists the branches that Fixup rescales; ``classifier`` is the final linear layer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from initlab.config import ConfigError, spec
from initlab.registry import Registry

MODELS: Registry = Registry("model", "initlab.models")

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "selu": nn.SELU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}
NORMS = ("none", "batch", "layer", "scale")
DROPOUTS = ("standard", "alpha")


@dataclass(kw_only=True)
class ModelConfig:
    """Keys every model shares."""

    name: str
    depth: int = spec(min=1, help="hidden layers (MLP, CNN) or residual blocks (ResNets)")
    width: int = spec(min=1, help="units (vectors) or channels (images) per layer")
    activation: str = spec(choices=tuple(ACTIVATIONS))
    norm: str = spec(choices=NORMS)
    dropout: float = spec(min=0.0, max=0.99)
    dropout_type: str = spec(choices=DROPOUTS, help="alpha: alpha-dropout (SELU nets)")


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


class ScaleNorm(nn.Module):
    """Per-example scale normalization without centring or parameters: x / sqrt(mean(x^2)),
    the mean over every unit (and pixel) of the example. The idealized normalization of the
    mean-field analyses (``initlab.theory.kernels``, mode ``normalized``): each example's branch
    input has unit second moment, whatever the other examples of the batch are."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim()))
        return x * torch.rsqrt(x.pow(2).mean(dim=dims, keepdim=True) + self.eps)


def norm_layer(kind: str, features: int, image: bool) -> nn.Module:
    """Normalization over ``features`` units/channels; identity for ``none``. ``scale``:
    :class:`ScaleNorm` (per example, scale only)."""
    if kind == "none":
        return nn.Identity()
    if kind == "scale":
        return ScaleNorm()
    if kind == "batch":
        return nn.BatchNorm2d(features) if image else nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.GroupNorm(1, features) if image else nn.LayerNorm(features)
    raise ValueError(f"unknown norm {kind!r}")


def dropout_layer(p: float, kind: str) -> nn.Module:
    if p == 0.0:
        return nn.Identity()
    return nn.AlphaDropout(p) if kind == "alpha" else nn.Dropout(p)


class ScalarBias(nn.Module):
    """One learnable scalar added to every entry (Fixup's bias); zero at construction."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class ScalarScale(nn.Module):
    """One learnable scalar multiplier (Fixup's per-branch scale); one at construction."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _in_features(layer: nn.Module, default: int) -> int:
    return getattr(layer, "in_channels", None) or getattr(layer, "in_features", None) or default


class ResidualBranch(nn.Module):
    """The non-identity path of a residual block.

    ``layers`` are its weight layers in order (Linear or Conv2d). With ``scalar_affine`` the
    branch carries Fixup's scalar biases (before every weight layer and activation, and at the
    end) and one scalar multiplier; ``has_fixup_scalars`` says so. With ``zero_last_norm`` the
    affine scale (gamma) of the branch's last normalization layer starts at zero (and is kept
    there by :func:`initlab.inits.base.reset_non_weight_parameters`), so that with zero biases
    the branch outputs zero at initialization ("zero-init the last BN of each branch").
    """

    layers: list[nn.Module]

    def __init__(
        self,
        layers: list[nn.Module],
        act: str,
        norm: str,
        width: int,
        image: bool,
        scalar_affine: bool,
        dropout: nn.Module,
        zero_last_norm: bool = False,
    ) -> None:
        super().__init__()
        self.has_fixup_scalars = scalar_affine
        self.zero_last_norm = zero_last_norm
        ops: list[nn.Module] = []
        self._norm_positions: list[int] = []  # indices in ``ops`` (not registered twice)
        for i, layer in enumerate(layers):
            if i > 0:
                ops.append(dropout)
            self._norm_positions.append(len(ops))
            ops.append(norm_layer(norm, _in_features(layer, width), image))
            if scalar_affine:
                ops.append(ScalarBias())
            ops.append(layer)
            if i < len(layers) - 1:
                if scalar_affine:
                    ops.append(ScalarBias())
                ops.append(activation(act))
        if scalar_affine:
            ops.extend([ScalarScale(), ScalarBias()])
        self.ops = nn.Sequential(*ops)
        self.weight_layers = nn.ModuleList(layers)
        if zero_last_norm:
            if self.last_norm() is None:
                raise ValueError("zero_last_norm needs a normalization layer with an affine scale")
            self.zero_last_norm_scale()

    def last_norm(self) -> nn.Module | None:
        """The branch's last normalization layer with a learnable scale, or None."""
        norms = [self.ops[i] for i in self._norm_positions]
        norms = [m for m in norms if getattr(m, "weight", None) is not None]
        return norms[-1] if norms else None

    @torch.no_grad()
    def zero_last_norm_scale(self) -> None:
        """Set gamma of the last normalization layer to 0 (a no-op unless ``zero_last_norm``)."""
        if self.zero_last_norm:
            self.last_norm().weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ops(x)

    def scalars(self) -> tuple[list[ScalarBias], list[ScalarScale]]:
        biases = [m for m in self.ops if isinstance(m, ScalarBias)]
        scales = [m for m in self.ops if isinstance(m, ScalarScale)]
        return biases, scales


class InitlabModel(nn.Module):
    """Base class: subclasses build ``self.classifier`` and implement ``layer_outputs``."""

    classifier: nn.Module

    def layers(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """Hidden representation after every layer/block, in order, each (batch, ...), one at a
        time: ``forward`` keeps only the last (a 100-block conv ResNet's outputs for an
        evaluation batch of 1,024 CIFAR images are 27 GB in float32)."""
        raise NotImplementedError

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """All of :meth:`layers`, held (angle and distance measurements)."""
        return list(self.layers(x))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Map the last hidden representation to logits."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(deque(self.layers(x), maxlen=1)[0])

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example values of the training loss (key ``loss``) and of other metrics.

        Training minimizes the batch mean of ``loss``; evaluation (eval mode) averages every key
        over a split, so metrics training does not need are computed in eval mode only. Class
        labels (int ``y``) give cross-entropy and accuracy; multi-label targets (float ``y`` of
        shape (n, tasks), NaN where unobserved, e.g. Tox21) give the binary cross-entropy over
        each example's observed labels. A generative model overrides this.
        """
        logits = self(x)
        if y.is_floating_point():
            observed = ~torch.isnan(y)
            bce = F.binary_cross_entropy_with_logits(logits, torch.nan_to_num(y), reduction="none")
            per_example = (bce * observed).sum(1) / observed.sum(1).clamp(min=1)
            return {"loss": per_example}
        loss = F.cross_entropy(logits, y, reduction="none")
        if self.training:
            return {"loss": loss}
        return {"loss": loss, "accuracy": (logits.argmax(1) == y).float()}

    def residual_branches(self) -> list[ResidualBranch]:
        return [m for m in self.modules() if isinstance(m, ResidualBranch)]


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> InitlabModel:
    """Build the model named by ``cfg.name`` for inputs of ``input_shape`` (per example)."""
    if len(input_shape) not in (1, 3):
        raise ConfigError(f"model: inputs of shape {input_shape} are neither vectors nor images")
    return MODELS.build(cfg, tuple(input_shape), num_classes)

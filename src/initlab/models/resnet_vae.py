"""A convolutional VAE whose encoder and decoder are deep residual networks (PDI paper, D2).

Images are first resized (bilinear) from the data's resolution to ``model.resolution``; the VAE
reconstructs the resized image. Layout, with ``w = model.width`` channels everywhere::

    encoder: stem conv -> [residual blocks, then a stride-2 conv] per level -> linear -> mu, logvar
    decoder: linear -> [2x nearest upsampling + conv, then residual blocks] per level -> conv

A level halves the feature map, down to ``bottleneck_size``. A residual block is
x + conv(act(norm(conv(norm(x))))) (:class:`ResidualBranch`, two weight layers).
``model.depth`` is the total number of weight layers (convs and linears):
4 fixed (stem, encoder linear, decoder linear, output conv) + 2 per level + 2 per residual block,
blocks split between encoder (the extra one, if odd) and decoder, and spread over the levels.

``objective`` (per example; see :meth:`ResNetVAE.objective`): ``l1`` the mean absolute error per
output value, ``kl`` = KL(q(z|x) || N(0, I)) in nats, ``elbo`` the evidence lower bound in nats
of a decoder p(x|z) = Laplace(x_hat, 1) per value (one sample of z), and ``loss`` =
l1 + beta * kl / D with D output values per example: for beta = 1 that is -elbo / D - log 2,
the negative ELBO per output value up to a constant.

Scale options: ``activation_checkpointing`` recomputes each residual block in the backward pass
(``torch.utils.checkpoint``; with batch norm the running statistics are then updated twice per
step). Mixed precision is the training loop's ``task.precision`` (bf16 or fp16 autocast); the
network's outputs are cast back to float32 before the losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from initlab.config import ConfigError, spec
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
class ResNetVAEConfig(ModelConfig):
    depth: int = spec(min=6, help="total weight layers of encoder + decoder (162 in the paper)")
    width: int = spec(min=1, help="channels of every conv layer")
    resolution: int = spec(min=1, help="images are resized to resolution x resolution")
    bottleneck_size: int = spec(min=1, help="halve the feature map down to this size")
    latent: int = spec(min=1, help="latent dimensions")
    beta: float = spec(min=0.0, help="weight of the KL term in the loss")
    activation_checkpointing: bool = spec(help="recompute residual blocks in the backward pass")


def levels(resolution: int, bottleneck_size: int) -> int:
    """How many times the feature map is halved: while above the bottleneck and even."""
    count, size = 0, resolution
    while size > bottleneck_size and size % 2 == 0:
        size //= 2
        count += 1
    return count


def block_layout(depth: int, n_levels: int) -> tuple[list[int], list[int]]:
    """Residual blocks per level of the encoder and of the decoder for ``depth`` weight layers."""
    fixed = 4 + 2 * n_levels
    spare = depth - fixed
    if spare < 4 or spare % 2:
        raise ConfigError(
            f"model.depth: {depth} does not fit: {fixed} fixed layers at this resolution "
            f"({n_levels} levels) + 2 per residual block, with at least one block on each side; "
            f"use an even depth >= {fixed + 4}"
        )
    blocks = spare // 2
    sides = [(blocks + 1) // 2, blocks // 2]
    slots = max(n_levels, 1)
    return tuple(
        [side // slots + (1 if j < side % slots else 0) for j in range(slots)] for side in sides
    )


class ResNetVAE(InitlabModel):
    def __init__(
        self, cfg: ResNetVAEConfig, input_shape: tuple[int, ...], num_classes: int
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError(
                f"model.name: resnet_vae needs image data (channels, height, width); "
                f"this data set gives vectors of shape {input_shape}"
            )
        self.cfg = cfg
        channels, w = input_shape[0], cfg.width
        n_levels = levels(cfg.resolution, cfg.bottleneck_size)
        enc_blocks, dec_blocks = block_layout(cfg.depth, n_levels)
        self.size = cfg.resolution // 2**n_levels
        drop = dropout_layer(cfg.dropout, cfg.dropout_type)

        def conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
            return nn.Conv2d(c_in, c_out, 3, stride, padding=1)

        def blocks(count: int) -> nn.ModuleList:
            return nn.ModuleList(
                ResidualBranch(
                    [conv(w, w), conv(w, w)], cfg.activation, cfg.norm, w, True, False, drop
                )
                for _ in range(count)
            )

        def transition(layer: nn.Module, up: bool = False) -> nn.Sequential:
            ops = [norm_layer(cfg.norm, w, True), activation(cfg.activation)]
            return nn.Sequential(*ops, *([nn.Upsample(scale_factor=2)] if up else []), layer)

        self.stem = conv(channels, w)
        self.enc_blocks = nn.ModuleList(blocks(n) for n in enc_blocks)
        self.downs = nn.ModuleList(transition(conv(w, w, 2)) for _ in range(n_levels))
        flat = w * self.size * self.size
        self.to_latent = nn.Sequential(
            norm_layer(cfg.norm, w, True), activation(cfg.activation), nn.Flatten(),
            nn.Linear(flat, 2 * cfg.latent),
        )  # fmt: skip
        self.from_latent = nn.Linear(cfg.latent, flat)
        self.ups = nn.ModuleList(transition(conv(w, w), up=True) for _ in range(n_levels))
        self.dec_blocks = nn.ModuleList(blocks(n) for n in dec_blocks)
        self.to_pixels = transition(conv(w, channels))
        self.classifier = self.to_pixels[
            -1
        ]  # the last weight layer (what "output layer" inits see)

    # -- pieces ----------------------------------------------------------------------------
    def _residual(self, branch: nn.Module, h: torch.Tensor) -> torch.Tensor:
        if self.cfg.activation_checkpointing and self.training and torch.is_grad_enabled():
            # saving the RNG state for the recomputation is only needed for dropout, and costs
            # ~0.1 s per call with a CUDA build of torch on a machine without a GPU
            keep_rng = self.cfg.dropout > 0
            return h + checkpoint(branch, h, use_reentrant=False, preserve_rng_state=keep_rng)
        return h + branch(h)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """The data image resized to the model's resolution: what the decoder reproduces."""
        if x.shape[-2:] == (self.cfg.resolution, self.cfg.resolution):
            return x
        size = (self.cfg.resolution, self.cfg.resolution)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def encode(self, x: torch.Tensor, outputs: list | None = None) -> tuple[torch.Tensor, ...]:
        """(mu, logvar) of q(z | x) for images at the model's resolution."""
        h = self.stem(x)
        for j, level in enumerate(self.enc_blocks):
            for branch in level:
                h = self._residual(branch, h)
                if outputs is not None:
                    outputs.append(h)
            if j < len(self.downs):
                h = self.downs[j](h)
        mu, logvar = self.to_latent(h).float().chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, outputs: list | None = None) -> torch.Tensor:
        h = self.from_latent(z).view(len(z), self.cfg.width, self.size, self.size)
        for j, level in enumerate(self.dec_blocks):
            if j < len(self.ups):
                h = self.ups[j](h)
            for branch in level:
                h = self._residual(branch, h)
                if outputs is not None:
                    outputs.append(h)
        return self.to_pixels(h).float()

    # -- the InitlabModel interface ------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass with a reparameterized sample z ~ q(z | x)."""
        target = self.target(x)
        mu, logvar = self.encode(target)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return {"reconstruction": self.decode(z), "target": target, "mu": mu, "logvar": logvar}

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self(x)
        return vae_terms(
            out["reconstruction"], out["target"], out["mu"], out["logvar"], self.cfg.beta
        )

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """After every residual block, encoder then decoder (decoding z = mu)."""
        outputs: list[torch.Tensor] = []
        mu, _ = self.encode(self.target(x), outputs)
        self.decode(mu, outputs)
        return outputs

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.to_pixels(h)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoded posterior means."""
        return self.decode(self.encode(self.target(x))[0])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.cfg.latent, generator=generator).to(device)
        return self.decode(z)


def vae_terms(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float,
) -> dict[str, torch.Tensor]:
    """Per-example l1, kl, elbo and loss (see the module docstring for their definitions)."""
    values = target[0].numel()
    l1 = (reconstruction - target).abs().flatten(1).mean(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    log_likelihood = -values * (l1 + math.log(2.0))  # Laplace(x_hat, 1) per value
    return {"loss": l1 + beta * kl / values, "l1": l1, "kl": kl, "elbo": log_likelihood - kl}


@MODELS.register("resnet_vae", ResNetVAEConfig)
def build_resnet_vae(
    cfg: ResNetVAEConfig, input_shape: tuple[int, ...], num_classes: int
) -> ResNetVAE:
    return ResNetVAE(cfg, input_shape, num_classes)

"""Batched image augmentation on the device: pure tensor ops, seeded by a ``torch.Generator``.

The CIFAR-10 recipe of He et al. (2016) that the Fixup paper trains with: a random 32 x 32 crop
of the image padded by 4 pixels on each side, and a horizontal flip with probability 1/2, drawn
per example. Images arrive standardized per channel (``data.standardize``: training-set mean and
std, once at load), so the padding is 0 there, i.e. the channel mean; torchvision's recipe pads
the raw image with black before normalizing (a choice of a few border pixels, stated here).
Everything is one batched gather and one ``where`` on the batch's device: no host round trip, no
per-example Python. The same generator state gives the same batch on any run (CPU: bitwise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "crop_flip")


def batch_generator(device: torch.device | str, seed: int, step: int) -> torch.Generator:
    """A generator for the batch of optimizer step ``step``: a resumed run redraws the same."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 1_000_003 + step)
    return generator


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True
) -> torch.Tensor:
    """``x`` (batch, C, H, W): each example cropped at a random offset of its zero-padded image
    (offsets 0..2*padding in both directions) and, if ``flip``, mirrored with probability 1/2."""
    batch, channels, height, width = x.shape
    device = x.device
    padded = F.pad(x, (padding,) * 4)
    top = torch.randint(0, 2 * padding + 1, (batch, 1), generator=generator, device=device)
    left = torch.randint(0, 2 * padding + 1, (batch, 1), generator=generator, device=device)
    rows = top + torch.arange(height, device=device)  # (batch, H)
    cols = left + torch.arange(width, device=device)  # (batch, W)
    if flip:
        mirror = torch.rand(batch, 1, generator=generator, device=device) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)
    examples = torch.arange(batch, device=device).view(batch, 1, 1, 1)
    chans = torch.arange(channels, device=device).view(1, channels, 1, 1)
    return padded[examples, chans, rows.view(batch, 1, height, 1), cols.view(batch, 1, 1, width)]


def augment(name: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply augmentation ``name`` (one of :data:`AUGMENTATIONS`) to the batch ``x``."""
    if name == "none":
        return x
    if name == "crop_flip":
        if x.dim() != 4:
            raise ValueError(
                f"crop_flip needs image batches (batch, C, H, W), got {tuple(x.shape)}"
            )
        return random_crop_flip(x, generator)
    raise ValueError(f"unknown augmentation {name!r}; allowed: {', '.join(AUGMENTATIONS)}")

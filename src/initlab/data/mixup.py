"""Mixup (Zhang et al., ICLR 2018) for class-labelled batches, as the Fixup CIFAR recipe uses it.

A batch (x, y) becomes x~ = lam x + (1 - lam) x[perm] with lam ~ Beta(alpha, alpha) and a random
permutation of the batch; the loss is lam CE(f(x~), y) + (1 - lam) CE(f(x~), y[perm]). lam and
the permutation are drawn from a generator keyed by (seed, step), so a resumed run mixes exactly
as an uninterrupted one. Evaluation never mixes. ``task.mixup_alpha=0`` (the default) is off.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from initlab.config import ConfigError


def mix(
    x: torch.Tensor, alpha: float, seed: int, step: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(mixed inputs, the permutation, lam) for one batch."""
    if alpha <= 0:
        raise ValueError("mixup needs alpha > 0")
    rng = np.random.default_rng([seed, step])
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(len(x))).to(x.device)
    return lam * x + (1.0 - lam) * x[perm], perm, lam


def mixup_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, alpha: float, seed: int, step: int
) -> torch.Tensor:
    """Mean mixup cross-entropy of ``model`` on one batch (class labels only)."""
    if y.is_floating_point():
        raise ConfigError("task.mixup_alpha: mixup needs class labels, not multi-label targets")
    mixed, perm, lam = mix(x, alpha, seed, step)
    logits = model(mixed).float()
    return lam * F.cross_entropy(logits, y) + (1.0 - lam) * F.cross_entropy(logits, y[perm])

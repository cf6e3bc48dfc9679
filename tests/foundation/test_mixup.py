"""Mixup: the loss is the lam-weighted cross-entropy of the mixed batch, keyed by (seed, step)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initlab.config import ConfigError
from initlab.data.mixup import mix, mixup_loss


def test_mixup_loss_is_the_weighted_cross_entropy_of_the_mixed_batch():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    mixed, perm, lam = mix(x, 0.4, seed=3, step=7)
    assert 0.0 < lam < 1.0
    assert sorted(perm.tolist()) == list(range(16))
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[perm])
    logits = model(mixed)
    expected = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[perm])
    assert mixup_loss(model, x, y, 0.4, 3, 7).item() == pytest.approx(expected.item())
    again, _, lam2 = mix(x, 0.4, seed=3, step=7)  # same (seed, step): same mix (resume-safe)
    assert lam2 == lam and torch.equal(again, mixed)
    assert mix(x, 0.4, seed=3, step=8)[2] != lam


def test_mixup_refuses_multi_label_targets():
    with pytest.raises(ConfigError, match="mixup_alpha"):
        mixup_loss(nn.Linear(5, 3), torch.randn(4, 5), torch.rand(4, 3), 0.2, 0, 0)

"""``init=he_branch_scaled`` (B5's variance-controlled ResNet) against its definition and the
residual variance recursion, and ``data=mnist_subset_flat`` against ``mnist_subset``."""

from __future__ import annotations

import math

import pytest
import torch

from initlab.config import ConfigError
from initlab.data import build_data
from initlab.setup import parse_config
from tests.conftest import quiet_config


def _model(*overrides: str):
    setup = parse_config(quiet_config("device=cpu", "data=synthetic", *overrides))
    bundle = build_data(setup.data)
    return setup.new_model(bundle), bundle


def test_last_branch_layer_is_scaled_by_the_depth():
    """Var(W) = 2 / fan_in, times L^-1 (power 1/2) for the last layer of each branch; 256 x 256
    weights: sample variance within 5% (> 6 standard errors of ~0.6%)."""
    depth, width = 8, 256
    net, _ = _model(
        "model=resnet", "init=he_branch_scaled", f"model.depth={depth}", f"model.width={width}"
    )
    for branch in net.residual_branches():
        first, last = branch.weight_layers
        assert first.weight.var().item() == pytest.approx(2.0 / width, rel=0.05)
        assert last.weight.var().item() == pytest.approx(2.0 / width / depth, rel=0.05)


def test_forward_variance_follows_the_residual_recursion():
    """q_{l+1} = q_l (1 + 2 / L) for x + W2 relu(W1 x) with Var(W1) = 2 / n, Var(W2) = 2 / (n L):
    after L = 32 blocks at width 512 the second moment is q_1 (1 + 2/L)^(L-1) (about e^2),
    measured over 128 inputs within 10% (the He ResNet's would be 3^31 times q_1)."""
    depth, width = 32, 512
    torch.manual_seed(0)
    net, _ = _model(
        "model=resnet", "init=he_branch_scaled", f"model.depth={depth}", f"model.width={width}"
    )
    x = torch.randn(128, net.stem.in_features)
    with torch.no_grad():
        outputs = net.layer_outputs(x)
    q1, qL = (h.pow(2).mean().item() for h in (outputs[0], outputs[-1]))
    assert qL / q1 == pytest.approx((1 + 2 / depth) ** (depth - 1), rel=0.10)
    assert qL / q1 < math.e**2 * 1.1


def test_refused_without_residual_branches():
    with pytest.raises(ConfigError, match="needs a model with residual branches"):
        _model("model=mlp", "init=he_branch_scaled")


@pytest.mark.slow  # loads the 5,000 digits twice (~10 s)
def test_mnist_subset_flat_is_mnist_subset_flattened():
    images = build_data(parse_config(quiet_config("data=mnist_subset")).data)
    flat = build_data(parse_config(quiet_config("data=mnist_subset_flat")).data)
    assert flat.input_shape == (784,) and images.input_shape == (1, 28, 28)
    for split in ("train", "test"):
        x_img, y_img = images.split(split)
        x_flat, y_flat = flat.split(split)
        assert torch.equal(x_flat, x_img.flatten(1)) and torch.equal(y_flat, y_img)
    assert len(flat.x_train) == 4000 and len(flat.x_test) == 1000

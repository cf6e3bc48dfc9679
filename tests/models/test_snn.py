"""The SNN model (SELU, alpha-dropout, rectangular/conic), the MLP it reuses, and alpha-dropout.

torch's ``nn.AlphaDropout`` (what ``dropout_type=alpha`` builds) is checked against
``theory.alpha_dropout_affine``: its affine a, b and its dropped value, recovered from one
forward pass, and the mean 0 / variance 1 it preserves, by Monte Carlo.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initlab.compose import compose
from initlab.models import build_model
from initlab.models.snn import conic_widths
from initlab.setup import parse_config
from initlab.theory.selu import alpha_dropout_affine


def _model(overrides: list[str], input_shape=(20,), classes=3):
    setup = parse_config(compose(overrides))
    return build_model(setup.model, input_shape, classes)


def test_mlp_default_layout_unchanged() -> None:
    model = _model(["model=mlp", "model.depth=3", "model.width=16"])
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "hidden.0.0.weight": (16, 20),
        "hidden.0.0.bias": (16,),
        "hidden.1.0.weight": (16, 16),
        "hidden.1.0.bias": (16,),
        "hidden.2.0.weight": (16, 16),
        "hidden.2.0.bias": (16,),
        "classifier.weight": (3, 16),
        "classifier.bias": (3,),
    }


def test_snn_is_selu_with_alpha_dropout() -> None:
    model = _model(["model=snn", "model.depth=2", "model.width=8"])
    kinds = [type(m) for m in model.hidden[0]]
    assert kinds == [nn.Linear, nn.Identity, nn.SELU, nn.AlphaDropout]
    assert model.hidden[0][3].p == pytest.approx(0.05)
    assert model(torch.randn(4, 20)).shape == (4, 3)


def test_conic_widths_shrink_geometrically_to_outputs() -> None:
    widths = conic_widths(512, 4, 2)
    assert widths == [512, 128, 32, 8]  # ratio (2/512)^(1/4) = 1/4; the classifier gives 2
    assert conic_widths(10, 3, 10) == [10, 10, 10]
    model = _model(["model=snn", "model.shape=conic", "model.depth=4", "model.width=512"], (7,), 2)
    assert [layer[0].out_features for layer in model.hidden] == [512, 128, 32, 8]
    assert model.classifier.in_features == 8


def test_snn_refuses_unknown_shape() -> None:
    from initlab.config import ConfigError

    with pytest.raises(ConfigError, match="model.shape"):
        parse_config(compose(["model=snn", "model.shape=diamond"]))


@pytest.mark.parametrize("rate", [0.05, 0.10])
def test_torch_alpha_dropout_matches_theory_affine(rate: float) -> None:
    a, b, alpha_prime = alpha_dropout_affine(1.0 - rate)
    torch.manual_seed(0)
    x = torch.randn(200_000, dtype=torch.float64)
    layer = nn.AlphaDropout(rate).train()
    y = layer(x)
    dropped_value = a * alpha_prime + b
    dropped = (y - dropped_value).abs() < 1e-9
    kept = ~dropped
    # kept entries are exactly a x + b: recover a and b from two of them
    i, j = torch.nonzero(kept)[:2, 0]
    a_torch = float((y[i] - y[j]) / (x[i] - x[j]))
    b_torch = float(y[i] - a_torch * x[i])
    assert a_torch == pytest.approx(a, rel=1e-12)
    assert b_torch == pytest.approx(b, rel=1e-12, abs=1e-12)
    assert torch.allclose(y[kept], a * x[kept] + b, rtol=0, atol=1e-12)
    # the drop rate is the configured one (binomial: 5 standard errors)
    n = len(x)
    assert abs(float(dropped.double().mean()) - rate) < 5 * math.sqrt(rate * (1 - rate) / n)


@pytest.mark.parametrize("rate", [0.05, 0.10])
def test_alpha_dropout_keeps_zero_mean_unit_variance(rate: float) -> None:
    """SELU outputs at the fixed point (mean 0, var 1) stay there after alpha-dropout."""
    n = 1_000_000
    torch.manual_seed(1)
    z = torch.randn(n, dtype=torch.float64)
    x = torch.selu(z)  # mean 0, variance 1 for z ~ N(0, 1) (the fixed point)
    y = nn.AlphaDropout(rate).train()(x)
    # x itself is only approximately (0, 1) in a sample: compare against x's own moments
    se_mean = float(y.std()) / math.sqrt(n)
    assert abs(float(y.mean()) - 0.0) < 5 * se_mean + abs(float(x.mean()))
    se_var = math.sqrt(2.0 / n) * 3  # kurtosis of SELU outputs is above the Gaussian 3
    assert abs(float(y.var()) - 1.0) < 5 * se_var + abs(float(x.var()) - 1.0)

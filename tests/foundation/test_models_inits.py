"""Every model x init builds and runs forward on every embedded data shape; inits match their
definitions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initlab.config import ConfigError
from initlab.data import build_data
from initlab.inits.fixup import fixup_scale
from initlab.setup import parse_config
from tests.conftest import quiet_config

MODELS = ["mlp", "resnet", "resnet_bn", "cnn", "snn", "highway"]
INITS = ["he", "xavier", "lecun", "fixup", "torch"]
DATA = ["digits", "iris", "wine", "breast_cancer", "synthetic"]


def _refusal(model: str, init: str, data: str) -> str | None:
    """The message fragment a composition must be refused with, or None if it must work."""
    if model == "cnn" and data != "digits":
        return "needs image data"
    if init == "fixup" and model in ("mlp", "cnn", "snn", "highway"):
        return "needs a model with residual branches"
    if init == "fixup" and model == "resnet_bn":
        return "fixup replaces normalization"
    return None


@pytest.fixture(scope="module")
def bundles():
    cache = {}
    for name in DATA:
        setup = parse_config(quiet_config(f"data={name}"))
        cache[name] = build_data(setup.data)
    return cache


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("model", MODELS)
def test_every_composition_builds_and_runs_forward(model, init, data, bundles):
    setup = parse_config(
        quiet_config(
            f"model={model}",
            f"init={init}",
            f"data={data}",
            "model.depth=2",
            "model.width=8",
            "device=cpu",
        )
    )
    bundle = bundles[data]
    expected_refusal = _refusal(model, init, data)
    if expected_refusal:
        with pytest.raises(ConfigError, match=expected_refusal):
            setup.new_model(bundle)
        return
    net = setup.new_model(bundle)
    x = bundle.x_train[:5]
    logits = net(x)
    assert logits.shape == (5, bundle.num_classes)
    assert torch.isfinite(logits).all()
    outputs = net.layer_outputs(x)
    assert len(outputs) == (2 + (1 if model == "cnn" else 0))  # cnn: 2 conv + 1 fc hidden layer


def _init_model(init: str, *overrides: str):
    setup = parse_config(quiet_config(f"init={init}", "device=cpu", *overrides))
    bundle = build_data(setup.data)
    return setup.new_model(bundle)


@pytest.mark.parametrize(
    ("init", "variance"),
    [
        ("he", lambda fi, fo: 2.0 / fi),
        ("lecun", lambda fi, fo: 1.0 / fi),
        ("xavier", lambda fi, fo: 2.0 / (fi + fo)),
    ],
)
@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_variance_scaling_matches_definition(init, variance, distribution):
    # 512x512 weights: the sample variance has relative standard error sqrt(2/262144) ~ 0.3%
    # (kurtosis of uniform/truncated draws only lowers it), so 2% is > 6 standard errors.
    net = _init_model(
        init, "model=mlp", "model.width=512", "model.depth=2", f"init.distribution={distribution}"
    )
    weight = net.hidden[1][0].weight
    fan_out, fan_in = weight.shape
    expected = variance(fan_in, fan_out)
    assert weight.mean().abs().item() < 4 * math.sqrt(expected / weight.numel())
    assert weight.var().item() == pytest.approx(expected, rel=0.02)
    assert torch.count_nonzero(net.hidden[1][0].bias) == 0


def test_conv_fan_in_counts_the_kernel():
    net = _init_model("he", "model=cnn", "model.width=256", "model.depth=2", "model.pool_every=0")
    weight = net.convs[1][0].weight  # (256, 256, 3, 3): fan_in = 256 * 9
    assert weight.var().item() == pytest.approx(2.0 / (256 * 9), rel=0.02)


@pytest.mark.parametrize("data", ["synthetic", "digits"])  # fully connected and conv branches
def test_fixup_follows_its_paper(data):
    depth, width = 16, 256
    net = _init_model(
        "fixup", "model=resnet", f"model.depth={depth}", f"model.width={width}", f"data={data}"
    )
    branches = net.residual_branches()
    assert len(branches) == depth
    scale = fixup_scale(depth, 2)
    assert scale == pytest.approx(depth**-0.5)
    for branch in branches:
        first, last = branch.weight_layers
        fan_in = first.weight[0].numel()
        assert first.weight.var().item() == pytest.approx(2.0 / fan_in * scale**2, rel=0.05)
        assert torch.count_nonzero(last.weight) == 0
        biases, scales = branch.scalars()
        assert len(scales) == 1 and scales[0].scale.item() == 1.0
        assert len(biases) == 4 and all(b.bias.item() == 0.0 for b in biases)
    assert torch.count_nonzero(net.classifier.weight) == 0
    assert torch.count_nonzero(net.classifier.bias) == 0
    # stem keeps He's variance
    stem = net.stem.weight
    assert stem.var().item() == pytest.approx(2.0 / stem[0].numel(), rel=0.15)


def test_fixup_scale_for_deeper_branches():
    net = _init_model(
        "fixup",
        "model=resnet",
        "model.depth=9",
        "model.branch_layers=3",
        "model.width=256",
        "data=synthetic",
    )
    first, middle, last = net.residual_branches()[0].weight_layers
    expected = 9 ** (-1.0 / 4.0)  # L^(-1/(2m-2)) with m = 3
    for layer in (first, middle):
        assert layer.weight.std().item() == pytest.approx(math.sqrt(2.0 / 256) * expected, rel=0.03)
    assert torch.count_nonzero(last.weight) == 0


def test_fixup_refuses_a_branch_without_its_scalars():
    with pytest.raises(ConfigError, match="scalar_affine=true"):
        _init_model("fixup", "model=resnet", "model.scalar_affine=false", "data=iris")


def test_resnet_is_identity_plus_branch():
    net = _init_model("he", "model=resnet", "model.depth=3", "data=iris")
    x = torch.randn(4, 4)
    h = net.stem(x)
    for branch, out in zip(net.residual_branches(), net.layer_outputs(x)):
        h = h + branch(h)
        torch.testing.assert_close(out, h)


def test_batchnorm_models_have_batchnorm():
    net = _init_model("he", "model=resnet_bn", "data=iris")
    assert any(isinstance(m, nn.BatchNorm1d) for m in net.modules())
    net = _init_model("he", "model=resnet_bn", "data=digits")
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())

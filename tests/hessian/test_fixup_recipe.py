"""Fixup as the authors' CIFAR code initializes it, and its 10x smaller lr for the scalars.

The expected per-layer variances are built here from the published rule, independently of
``initlab.inits.fixup``: for L residual branches of two 3x3 convs, the first conv of every branch
has Var(W) = 2 / (c_out * 9) / L (He's fan_out variance, times the Fixup scale L^(-1/2) squared),
the second conv and the classifier are zero, and the stem keeps PyTorch's default layer init
(Kaiming-uniform with a = sqrt(5): Var = 1 / (3 fan_in)).
"""

from __future__ import annotations

import pytest
import torch

from initlab.data import build_data
from initlab.optim import build_optimizer
from initlab.setup import parse_config
from tests.conftest import quiet_config

DEPTH, WIDTH = 6, 32  # 3 stages of 2 blocks: 32, 64, 128 channels


def fixup_net(*overrides: str):
    setup = parse_config(
        quiet_config(
            "model=resnet",
            "init=fixup",
            "data=digits",
            "device=cpu",
            f"model.depth={DEPTH}",
            f"model.width={WIDTH}",
            "model.stages=3",
            *overrides,
        )
    )
    return setup, setup.new_model(build_data(setup.data))


def official_variances(net) -> dict[str, float]:
    """Per weight tensor, the variance the authors' rule gives (from shapes only)."""
    expected = {}
    for i, block in enumerate(net.blocks):
        first, second = block.weight_layers
        c_out, _, k1, k2 = first.weight.shape
        expected[f"blocks.{i}.first"] = 2.0 / (c_out * k1 * k2) / DEPTH
        expected[f"blocks.{i}.second"] = 0.0
    expected["stem"] = 1.0 / (3.0 * net.stem.weight[0].numel())
    expected["classifier"] = 0.0
    return expected


def empirical_variances(net) -> dict[str, float]:
    found = {}
    for i, block in enumerate(net.blocks):
        first, second = block.weight_layers
        found[f"blocks.{i}.first"] = first.weight.var().item()
        found[f"blocks.{i}.second"] = second.weight.var().item()
    found["stem"] = net.stem.weight.var().item()
    found["classifier"] = net.classifier.weight.var().item()
    return found


def test_official_fixup_rule_per_layer_variances():
    torch.manual_seed(0)
    _, net = fixup_net("init.branch_fan=fan_out", "init.stem=torch")
    expected, found = official_variances(net), empirical_variances(net)
    assert expected.keys() == found.keys()
    for name, variance in expected.items():
        if variance == 0.0:
            assert found[name] == 0.0, name
        else:  # >= 288 entries per tensor: 20% is > 4 standard errors of a sample variance
            assert found[name] == pytest.approx(variance, rel=0.2), name
    assert torch.count_nonzero(net.classifier.bias) == 0


def test_fan_in_default_differs_on_the_stage_transitions_only():
    torch.manual_seed(0)
    _, fan_in = fixup_net()
    torch.manual_seed(0)
    _, fan_out = fixup_net("init.branch_fan=fan_out")
    for a, b in zip(fan_in.blocks, fan_out.blocks, strict=True):
        conv_a, conv_b = a.weight_layers[0].weight, b.weight_layers[0].weight
        c_out, c_in = conv_a.shape[:2]
        ratio = (conv_a.var() / conv_b.var()).item()
        assert ratio == pytest.approx(c_out / c_in, rel=0.1)  # 2 on a transition, else 1
    # He stem by default: 6x the PyTorch default's variance (std 2.45x)
    assert fan_in.stem.weight.var().item() == pytest.approx(
        2.0 / fan_in.stem.weight[0].numel(), rel=0.2
    )


def test_scalar_parameters_get_their_own_learning_rate():
    setup, net = fixup_net("optim=sgd", "optim.lr=0.2", "optim.scalar_lr_scale=0.1")
    optimizer, scheduler = build_optimizer(setup.optim, net, total_steps=10)
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["weights"]["lr"] == pytest.approx(0.2)
    assert groups["scalars"]["lr"] == pytest.approx(0.02)
    scalars = {id(p) for p in groups["scalars"]["params"]}
    assert all(p.numel() == 1 for p in groups["scalars"]["params"])
    n_scalars = sum(len(b.scalars()[0]) + len(b.scalars()[1]) for b in net.blocks)
    assert len(scalars) == n_scalars  # every branch's scalar biases and multiplier, nothing else
    # one SGD step moves a scalar by 0.1x what the same gradient moves it at the base lr
    before = [p.detach().clone() for p in groups["scalars"]["params"]]
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    moved = [
        (b - p.detach()).abs().max().item() for b, p in zip(before, groups["scalars"]["params"])
    ]
    assert moved == pytest.approx([0.02] * len(moved))
    with pytest.raises(ValueError, match="needs the model"):
        build_optimizer(setup.optim, net.parameters(), total_steps=10)

"""The ``resnet_fixup_official`` arm is the Fixup authors' CIFAR network, and trains every bias
and scale at a tenth of the learning rate.

The reference forward pass below is written here from the published description of their
network (not from initlab.models): a 3x3 conv stem, then relu(x + bias1); in each block
out = conv1(x + bias1a), relu(out + bias1b), conv2(out + bias2a), out * scale + bias2b; the
skip is x, or, in a block that halves the resolution, x + bias1a subsampled by 2 with as many
zero channels appended; relu after the addition; global average pool; fc(x + bias2). One set of
random weights (every scalar non-zero, so each one matters) goes into both; the logits agree.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from initlab.data import build_data
from initlab.optim import build_optimizer
from initlab.setup import parse_config
from tests.conftest import quiet_config

DEPTH, WIDTH = 6, 4  # 3 stages of 2 blocks: 4, 8, 16 channels on 8x8 digits


def official_arm(*overrides: str):
    setup = parse_config(
        quiet_config(
            "arm=resnet_fixup_official",
            "task=train",
            "data=digits",
            "device=cpu",
            f"model.depth={DEPTH}",
            f"model.width={WIDTH}",
            "model.stages=3",
            "optim=sgd",
            *overrides,
        )
    )
    data = build_data(setup.data)
    return setup, setup.new_model(data), data


def random_official_weights(net, generator: torch.Generator) -> dict:
    """Weights named as in the authors' network, shapes read from ``net``; all non-zero."""

    def draw(shape) -> torch.Tensor:
        return 0.3 * torch.randn(shape, generator=generator)

    blocks = []
    for block in net.blocks:
        conv1, conv2 = block.weight_layers
        blocks.append(
            {
                "conv1": draw(conv1.weight.shape),
                "conv2": draw(conv2.weight.shape),
                "stride": conv1.stride[0],
                **{k: draw((1,)) for k in ("bias1a", "bias1b", "bias2a", "bias2b")},
                "scale": 1.0 + draw((1,)),
            }
        )
    return {
        "conv1": draw(net.stem.weight.shape),
        "bias1": draw((1,)),
        "blocks": blocks,
        "bias2": draw((1,)),
        "fc_weight": draw(net.classifier.weight.shape),
        "fc_bias": draw(net.classifier.bias.shape),
    }


def reference_forward(w: dict, x: torch.Tensor) -> torch.Tensor:
    """The authors' CIFAR Fixup ResNet, from its published description."""
    h = F.relu(F.conv2d(x, w["conv1"], padding=1) + w["bias1"])
    for b in w["blocks"]:
        out = F.conv2d(h + b["bias1a"], b["conv1"], stride=b["stride"], padding=1)
        out = F.relu(out + b["bias1b"])
        out = F.conv2d(out + b["bias2a"], b["conv2"], padding=1)
        out = out * b["scale"] + b["bias2b"]
        skip = h
        if b["stride"] != 1:
            skip = (h + b["bias1a"])[:, :, :: b["stride"], :: b["stride"]]
            skip = torch.cat([skip, torch.zeros_like(skip)], dim=1)
        h = F.relu(out + skip)
    pooled = h.mean(dim=(2, 3))
    return F.linear(pooled + w["bias2"], w["fc_weight"], w["fc_bias"])


@torch.no_grad()
def load_official_weights(net, w: dict) -> None:
    """Copy the authors'-named weights into initlab's model."""
    net.stem.weight.copy_(w["conv1"])
    net.stem_bias.bias.copy_(w["bias1"])
    for block, b in zip(net.blocks, w["blocks"], strict=True):
        conv1, conv2 = block.weight_layers
        conv1.weight.copy_(b["conv1"])
        conv2.weight.copy_(b["conv2"])
        biases, scales = block.scalars()
        assert len(biases) == 4 and len(scales) == 1
        for module, key in zip(biases, ("bias1a", "bias1b", "bias2a", "bias2b"), strict=True):
            module.bias.copy_(b[key])
        scales[0].scale.copy_(b["scale"])
    net.head_bias.bias.copy_(w["bias2"])
    net.classifier.weight.copy_(w["fc_weight"])
    net.classifier.bias.copy_(w["fc_bias"])


def logits_gap(*overrides: str) -> float:
    """Largest |logit difference| between initlab's model and the reference, same weights."""
    _, net, data = official_arm(*overrides)
    weights = random_official_weights(net, torch.Generator().manual_seed(0))
    load_official_weights(net, weights)
    x = data.x_train[:16].float()
    net.eval()
    with torch.no_grad():
        return (net(x) - reference_forward(weights, x)).abs().max().item()


def test_official_arm_is_the_authors_network() -> None:
    _, net, _ = official_arm()
    # every parameter of initlab's model is one the reference uses (nothing left unset)
    n_reference = 5 + 7 * DEPTH  # stem, bias1, bias2, fc weight + bias; 2 convs + 5 scalars
    assert len(list(net.parameters())) == n_reference
    assert logits_gap() < 1e-5


@pytest.mark.parametrize(
    "override",
    ["model.stem_activation=false", "model.post_activation=false", "model.scalar_biases=branch"],
)
def test_each_official_piece_changes_the_logits(override: str) -> None:
    """Without any one piece the same weights give other logits: the comparison has teeth."""
    if override == "model.scalar_biases=branch":
        with pytest.raises(AttributeError):  # no stem/head scalars to load
            logits_gap(override)
        return
    assert logits_gap(override) > 1e-3


def test_downsampling_skip_sees_the_first_scalar_bias() -> None:
    _, net, data = official_arm()
    weights = random_official_weights(net, torch.Generator().manual_seed(1))
    load_official_weights(net, weights)
    x = data.x_train[:8].float()
    with torch.no_grad():
        before = net(x)
        # the first block of stage 2 downsamples: its bias1a enters the skip and the branch
        transition = next(i for i, b in enumerate(weights["blocks"]) if b["stride"] != 1)
        bias1a = net.blocks[transition].scalars()[0][0].bias
        bias1a.add_(0.5)
        weights["blocks"][transition]["bias1a"] = weights["blocks"][transition]["bias1a"] + 0.5
        assert (net(x) - before).abs().max().item() > 1e-3
        assert (net(x) - reference_forward(weights, x)).abs().max().item() < 1e-5


def test_every_bias_and_scale_trains_at_a_tenth_of_the_lr() -> None:
    setup, net, _ = official_arm("optim.lr=0.2")
    optimizer, _ = build_optimizer(setup.optim, net, total_steps=10)
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert set(groups) == {"weights", "biases_scales"}
    assert groups["weights"]["lr"] == pytest.approx(0.2)
    assert groups["biases_scales"]["lr"] == pytest.approx(0.02)
    slow = {id(p) for p in groups["biases_scales"]["params"]}
    names = {name for name, p in net.named_parameters() if id(p) in slow}
    expected = {n for n, _ in net.named_parameters() if n.endswith((".bias", ".scale"))}
    assert names == expected
    # the classifier's bias, the stem's and head's scalars and every block's five
    assert {"classifier.bias", "stem_bias.bias", "head_bias.bias"} <= names
    assert len(names) == 3 + 5 * DEPTH
    assert all(p.dim() <= 1 for p in groups["biases_scales"]["params"])
    weights = {id(p) for p in groups["weights"]["params"]}
    assert weights.isdisjoint(slow)
    assert len(weights) + len(slow) == len(list(net.parameters()))


def test_scalar_and_bias_lr_scales_are_exclusive() -> None:
    from initlab.config import ConfigError

    with pytest.raises(ConfigError, match="bias_lr_scale"):
        official_arm("optim.scalar_lr_scale=0.1")


@pytest.mark.parametrize("experiment", ["a4_lr_sweep", "a4_lr_sweep_full"])
def test_a4_official_arm_resolves_to_the_authors_network(experiment: str) -> None:
    """In the sweep's order (arm first, then the experiment), the experiment keeps every key
    that makes the arm the authors' network."""
    setup = parse_config(
        quiet_config("arm=resnet_fixup_official", f"experiment={experiment}", "model.depth=15")
    )
    model, optim = setup.model, setup.optim
    assert (model.stem_activation, model.post_activation, model.scalar_biases) == (
        True,
        True,
        "official",
    )
    assert model.scalar_affine and optim.bias_lr_scale == 0.1 and optim.scalar_lr_scale == 1.0
    assert (setup.init.branch_fan, setup.init.stem) == ("fan_out", "torch")
    if experiment.endswith("_full"):
        assert model.stem_stride == 1 and model.stages == 3  # the CIFAR ResNet, stride-1 stem

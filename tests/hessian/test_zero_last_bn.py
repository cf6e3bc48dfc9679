"""resnet_bn's zero_last_bn option zeroes every branch at init; stages keep shapes consistent."""

from __future__ import annotations

import pytest
import torch

from initlab.compose import compose
from initlab.data import build_data
from initlab.inits.fixup import fixup_init  # noqa: F401 - registers fixup
from initlab.setup import parse_config

QUIET = ["logger.wandb.mode=disabled", "logger.progress=off"]
DATA = ["data=synthetic", "data.samples=100", "data.dim=5", "data.classes=3"]


def model_for(*overrides: str):
    setup = parse_config(compose([*QUIET, *DATA, *overrides]))
    data = build_data(setup.data)
    return setup.new_model(data), data


@pytest.mark.parametrize("init", ["he", "xavier"])
def test_zero_last_bn_zeroes_every_branch(init: str) -> None:
    model, data = model_for(
        "model=resnet_bn",
        "model.zero_last_bn=true",
        "model.depth=3",
        "model.width=6",
        f"init={init}",
    )
    model.train()
    x = data.x_train[:32]
    h = model.stem(x)
    for branch in model.blocks:
        assert torch.count_nonzero(branch(h)) == 0
        assert torch.count_nonzero(branch.last_norm().weight) == 0
        first = branch.ops[branch._norm_positions[0]]
        assert torch.all(first.weight == 1)  # only the LAST norm is zeroed
    outputs = model.layer_outputs(x)
    assert all(torch.equal(o, h) for o in outputs)  # identity network until the head


def test_zero_last_bn_with_torch_init_leaves_only_the_bias() -> None:
    """PyTorch's own init keeps the last layer's bias: the branch is then constant in x."""
    model, data = model_for(
        "model=resnet_bn", "model.zero_last_bn=true", "model.depth=2", "model.width=6", "init=torch"
    )
    model.train()
    h = model.stem(data.x_train[:32])
    for branch in model.blocks:
        assert torch.count_nonzero(branch.last_norm().weight) == 0
        out = branch(h)
        assert torch.allclose(out, branch.weight_layers[-1].bias.expand_as(out))


def test_default_bn_branches_are_not_zero() -> None:
    model, data = model_for("model=resnet_bn", "model.depth=2", "model.width=6", "init=he")
    model.train()
    h = model.stem(data.x_train[:32])
    assert all(torch.count_nonzero(b(h)) > 0 for b in model.blocks)


def test_zero_last_bn_gamma_trains() -> None:
    """Gamma starts at zero but is a parameter: one SGD step moves it."""
    model, data = model_for(
        "model=resnet_bn", "model.zero_last_bn=true", "model.depth=1", "model.width=4"
    )
    gamma = model.blocks[0].last_norm().weight
    loss = torch.nn.functional.cross_entropy(model(data.x_train[:32]), data.y_train[:32])
    loss.backward()
    assert gamma.grad is not None and torch.count_nonzero(gamma.grad) > 0


def test_stages_downsample_and_fixup() -> None:
    setup = parse_config(
        compose(
            [
                *QUIET,
                "data=synthetic",
                "model=resnet",
                "init=fixup",
                "model.depth=6",
                "model.stages=3",
                "model.width=4",
            ]
        )
    )
    from initlab.inits import initialize
    from initlab.models.resnet import ResNet

    model = ResNet(setup.model, (3, 8, 8), 10)
    initialize(model, setup.init)
    outs = model.layer_outputs(torch.randn(2, 3, 8, 8))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (4, 8, 8),
        (4, 8, 8),
        (8, 4, 4),
        (8, 4, 4),
        (16, 2, 2),
        (16, 2, 2),
    ]
    assert len(model.residual_branches()) == 6
    # Fixup: every branch's last layer is zero, so each block passes its (padded) input on
    assert all(torch.count_nonzero(b.weight_layers[-1].weight) == 0 for b in model.blocks)
    x = torch.randn(2, 3, 8, 8)
    stem = model.stem(x)
    assert torch.allclose(model.layer_outputs(x)[2][:, :4], stem[:, :, ::2, ::2])
    assert torch.count_nonzero(model.layer_outputs(x)[2][:, 4:]) == 0


def test_stages_need_images_and_divisible_depth() -> None:
    from initlab.config import ConfigError

    with pytest.raises(ConfigError, match="stages"):
        parse_config(compose([*QUIET, "model=resnet", "model.depth=5", "model.stages=2"]))
    with pytest.raises(ConfigError, match="stages"):
        model_for("model=resnet", "model.depth=4", "model.stages=2")

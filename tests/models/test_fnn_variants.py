"""The seven feed-forward variants of the SNN paper (conf/fnn/): they compose, build and train;
weight normalization, highway gates and the ResNet block shapes do what they claim."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from initlab.data import build_data
from initlab.main import execute
from initlab.models import build_model
from initlab.models.mlp import WeightNormLinear
from initlab.models.resnet import branch_widths
from initlab.setup import parse_config
from tests.conftest import quiet_config

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = sorted(p.stem.removeprefix("fnn_") for p in (ROOT / "conf" / "arm").glob("fnn_*.yaml"))
SMALL = ["model.depth=3", "model.width=16", "device=cpu"]


def test_the_seven_variants_are_there() -> None:
    expected = {"snn", "msra", "batchnorm", "layernorm", "weightnorm", "highway", "resnet"}
    assert set(VARIANTS) == expected


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_composes_with_its_model_and_init(variant: str) -> None:
    setup = parse_config(quiet_config(f"arm=fnn_{variant}"))
    model_name = {"snn": "snn", "highway": "highway", "resnet": "resnet"}.get(variant, "mlp")
    assert setup.model.name == model_name
    assert setup.init.name == ("lecun" if variant == "snn" else "he")
    if model_name in ("snn", "mlp"):
        assert setup.model.weight_norm == (variant == "weightnorm")
        assert setup.model.norm == {"batchnorm": "batch", "layernorm": "layer"}.get(variant, "none")


@pytest.mark.parametrize("data", ["iris", "breast_cancer"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_trains_two_epochs_to_a_finite_loss(variant: str, data: str, tmp_path) -> None:
    cfg = quiet_config(f"arm=fnn_{variant}", f"data={data}", "task.epochs=2", *SMALL)
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    assert math.isfinite(summary["train_loss"]) and math.isfinite(summary["test_loss"])


def test_conic_shape_is_a_key_of_the_mlp_variants() -> None:
    setup = parse_config(quiet_config("arm=fnn_batchnorm", "model.shape=conic", *SMALL))
    model = build_model(setup.model, (30,), 2)
    assert model.widths == [16, 8, 4]  # 16 * (2/16)^(i/3)


def _pair(overrides: list[str], inputs: int = 6, classes: int = 3):
    """The same MLP built plain and weight-normalized, the latter's directions copied from it."""
    torch.manual_seed(0)
    plain = build_model(parse_config(quiet_config(*overrides)).model, (inputs,), classes)
    normed = build_model(
        parse_config(quiet_config(*overrides, "model.weight_norm=true")).model, (inputs,), classes
    )
    normed.load_state_dict(plain.state_dict(), strict=False)
    return plain, normed


def test_weight_norm_reparametrizes_and_keeps_the_function_at_init() -> None:
    plain, normed = _pair(["model=mlp", "model.depth=3", "model.width=8"])
    linears = [m for m in normed.modules() if isinstance(m, WeightNormLinear)]
    assert len(linears) == 3  # every hidden layer, not the classifier
    names = {n for n, _ in normed.named_parameters()}
    assert {"hidden.0.0.weight", "hidden.0.0.weight_g"} <= names
    x = torch.randn(20, 6)
    torch.testing.assert_close(normed(x), plain(x))
    for layer in linears:  # g took the row norms of v at the first forward
        torch.testing.assert_close(layer.weight_g, layer.weight.norm(dim=1, keepdim=True))
    # The function depends on v only through its direction, and scales with g.
    with torch.no_grad():
        linears[0].weight.mul_(7.0)
    torch.testing.assert_close(normed(x), plain(x))
    with torch.no_grad():
        linears[0].weight_g.mul_(2.0)
    assert not torch.allclose(normed(x), plain(x))


def test_weight_norm_follows_the_initializer() -> None:
    """The initializer draws v (He: row norms ~ sqrt(2)); g is ||v|| of that draw, not torch's."""
    setup = parse_config(quiet_config("arm=fnn_weightnorm", "model.width=400", "model.depth=2"))
    data = build_data(setup.data)
    model = setup.new_model(data)
    x = torch.randn(8, *data.input_shape)
    model(x)
    layer = model.hidden[1][0]
    assert isinstance(layer, WeightNormLinear)
    assert layer.weight_g.mean().item() == pytest.approx(math.sqrt(2.0), rel=0.05)
    grads = torch.autograd.grad(model(x).sum(), [layer.weight_g])
    assert grads[0].abs().sum() > 0  # g is trained


def _highway(gate_bias: float) -> nn.Module:
    setup = parse_config(
        quiet_config(
            "model=highway", "model.depth=5", "model.width=12", f"model.gate_bias={gate_bias}"
        )
    )
    torch.manual_seed(0)
    return build_model(setup.model, (7,), 3)


def test_highway_with_closed_gate_is_near_identity() -> None:
    x = torch.randn(32, 7)
    closed = _highway(-30.0)
    outs = closed.layer_outputs(x)
    assert len(outs) == 5
    start = closed.stem(x)
    for h in outs:
        torch.testing.assert_close(h, start, atol=1e-6, rtol=0)
    open_ = _highway(30.0)
    layer = open_.hidden[0]
    h0 = open_.stem(x)
    torch.testing.assert_close(layer(h0), layer.transform(h0), atol=1e-6, rtol=0)
    assert not torch.allclose(layer(h0), h0, atol=1e-3)


def test_highway_gate_bias_survives_the_initializer() -> None:
    setup = parse_config(quiet_config("arm=fnn_highway", "model.gate_bias=-3.0", *SMALL))
    model = setup.new_model(build_data(setup.data))
    for layer in model.hidden:
        assert torch.all(layer.gate_bias == -3.0)


@pytest.mark.parametrize(
    ("shape", "layers", "bottleneck", "widths"),
    [
        ("rectangular", 2, 1.0, [64]),
        ("rectangular", 2, 0.25, [16]),
        ("diavolo", 2, 0.5, [32]),
        ("rectangular", 4, 0.25, [16, 16, 16]),
        ("diavolo", 4, 0.25, [40, 16, 40]),  # 64 * (0.25 + 0.75 * 0.5) = 40
        ("diavolo", 3, 0.5, [43, 43]),  # 64 * (0.5 + 0.5 / 3)
    ],
)
def test_branch_widths(shape: str, layers: int, bottleneck: float, widths: list[int]) -> None:
    assert branch_widths(64, layers, shape, bottleneck) == widths


def test_resnet_blocks_have_the_configured_inner_widths() -> None:
    overrides = ["model=resnet", "model.width=32", "model.depth=2", "model.branch_layers=4"]
    setup = parse_config(
        quiet_config(*overrides, "model.block_shape=diavolo", "model.bottleneck=0.25")
    )
    model = build_model(setup.model, (5,), 2)
    for branch in model.residual_branches():
        shapes = [tuple(layer.weight.shape) for layer in branch.weight_layers]
        assert shapes == [(20, 32), (8, 20), (20, 8), (32, 20)]
    x = torch.randn(4, 5)
    assert model(x).shape == (4, 2)
    default = build_model(parse_config(quiet_config("model=resnet")).model, (5,), 2)
    for branch in default.residual_branches():
        assert {tuple(layer.weight.shape) for layer in branch.weight_layers} == {(64, 64)}


def test_zero_bottleneck_is_refused() -> None:
    from initlab.config import ConfigError

    with pytest.raises(ConfigError, match="bottleneck"):
        parse_config(quiet_config("model=resnet", "model.bottleneck=0.0"))


def test_weight_norm_g_survives_a_checkpoint_round_trip() -> None:
    """A trained g is restored from the state dict, not overwritten by ||v|| again."""
    _, normed = _pair(["model=mlp", "model.depth=2", "model.width=8"])
    x = torch.randn(5, 6)
    normed(x)
    with torch.no_grad():
        normed.hidden[0][0].weight_g.mul_(3.0)  # as after training
    expected = normed(x)
    _, restored = _pair(["model=mlp", "model.depth=2", "model.width=8"])
    restored(x)  # already synced to its own ||v||
    restored.load_state_dict(normed.state_dict())
    torch.testing.assert_close(restored(x), expected)


def test_weight_norm_resyncs_g_after_loading_a_fresh_state() -> None:
    """Loading a never-run model's state (g not set yet): g = ||v|| at the next forward."""
    plain, fresh = _pair(["model=mlp", "model.depth=2", "model.width=8"])
    x = torch.randn(5, 6)
    _, used = _pair(["model=mlp", "model.depth=2", "model.width=8"])
    with torch.no_grad():
        used.hidden[0][0].weight.mul_(0.5)
    used(x)  # synced to other weights
    used.load_state_dict(fresh.state_dict())
    torch.testing.assert_close(used(x), plain(x))

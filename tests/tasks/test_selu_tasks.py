"""End-to-end checks of task=selu_theory and task=activation_stats (E1-E3) on tiny settings."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from initlab.analysis.activations import activation_stats, hidden_linears, log_spaced_layers
from initlab.compose import compose
from initlab.main import execute
from initlab.models import build_model
from initlab.setup import parse_config
from initlab.tasks.activation_stats import standardized_inputs
from initlab.theory.selu import alpha_dropout_affine, check_theorem2, selu01

QUIET = ["logger.wandb.mode=disabled", "logger.progress=off"]


def test_selu_theory_task_writes_constants_and_checks(tmp_path) -> None:
    cfg = compose(
        [
            *QUIET,
            "task=selu_theory",
            "task.grid_points=5",
            "task.variance_grid_points=6",
            "task.fixed_point_grid_points=3",
            "task.field_points=4",
            "task.dropout_rates=[0.1]",
        ]
    )
    summary = execute(cfg, tmp_path)
    assert summary["status"] == "completed"
    constants = pd.read_csv(tmp_path / "selu_constants.csv", dtype={"value": str})
    values = dict(zip(constants["quantity"], constants["value"], strict=True))
    lam, alpha = selu01()
    # written with all digits: the text parses back to the very same float64
    assert float(values["lambda01"]) == lam and float(values["alpha01"]) == alpha
    assert float(values["fixed_point_residual"]) < 1e-10
    theorems = pd.read_csv(tmp_path / "selu_theorems.csv")
    row = theorems[(theorems["theorem"] == 2) & (theorems["quantity"] == "max_variance_change")]
    assert row["value"].item() == pytest.approx(check_theorem2(6).worst_change, rel=1e-12)
    assert set(theorems["grid_points"]) == {5, 6}
    field = pd.read_csv(tmp_path / "selu_vector_field.csv")
    assert len(field) == 16
    dropout = pd.read_csv(tmp_path / "alpha_dropout.csv")
    assert dropout["a"].item() == pytest.approx(alpha_dropout_affine(0.9)[0], rel=1e-15)


def test_selu_theory_refuses_reversed_field_range(tmp_path) -> None:
    from initlab.config import ConfigError

    with pytest.raises(ConfigError, match="field_nu"):
        parse_config(compose([*QUIET, "task=selu_theory", "task.field_nu=[2.0,1.0]"]))


def test_pre_activation_hooks_see_linear_outputs() -> None:
    setup = parse_config(compose([*QUIET, "model=mlp", "model.depth=3", "model.width=8"]))
    model = build_model(setup.model, (5,), 2).eval()
    x = torch.randn(32, 5)
    rows = activation_stats(model, x)
    pre = [r for r in rows if r.kind == "pre"]
    assert [r.layer for r in pre] == [1, 2, 3] and len(hidden_linears(model)) == 3
    first = model.hidden[0][0](x).detach().double()
    assert pre[0].mean == pytest.approx(float(first.mean()), abs=1e-6)
    assert pre[0].var == pytest.approx(float(first.var(unbiased=False)), rel=1e-5)
    post = [r for r in rows if r.kind == "post"]
    out = model.layer_outputs(x)[-1].detach().double()
    assert post[-1].mean == pytest.approx(float(out.mean()), abs=1e-6)


def test_kept_layers_are_log_spaced_and_their_statistics_unchanged() -> None:
    kept = log_spaced_layers(128, 24)  # E3's choice
    assert kept[0] == 1 and kept[-1] == 128 and len(kept) <= 24
    assert all(a < b for a, b in zip(kept, kept[1:], strict=False))
    top = kept[len(kept) // 2 :]  # past the rounding of the first few: a geometric step
    steps = [b / a for a, b in zip(top, top[1:], strict=False)]
    assert max(steps) / min(steps) < 1.15 and min(steps) == pytest.approx(128 ** (1 / 23), rel=0.1)
    assert log_spaced_layers(5, 24) == [1, 2, 3, 4, 5] == log_spaced_layers(5, None)
    setup = parse_config(compose([*QUIET, "model=mlp", "model.depth=12", "model.width=8"]))
    model = build_model(setup.model, (5,), 2).eval()
    x = torch.randn(64, 5)
    every = {(r.layer, r.kind): r for r in activation_stats(model, x)}
    kept = activation_stats(model, x, keep=5)
    assert sorted({r.layer for r in kept}) == log_spaced_layers(12, 5) == [1, 2, 3, 6, 12]
    assert len(kept) == 2 * 5
    for row in kept:  # the same forward through all 12 layers: the very same numbers
        assert row == every[(row.layer, row.kind)]


def test_standardized_inputs_have_unit_moments() -> None:
    x = torch.randn(500, 2, 3) * 5 + 3
    x[:, 0, 0] = 7.0  # a constant feature stays at 0
    z = standardized_inputs(x, True).flatten(1)
    assert torch.allclose(z[:, 1:].mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(z[:, 1:].std(0, unbiased=False), torch.ones(5), atol=1e-5)
    assert torch.all(z[:, 0] == 0)


def _run_stats(tmp_path, net: str, depth: int = 24) -> pd.DataFrame:
    cfg = compose(
        [
            *QUIET,
            "experiment=e3_activation_stats",
            f"arm=e3_{net}",
            f"model.depth={depth}",
            "model.width=128",
            "task.samples=512",
        ]
    )
    summary = execute(cfg, tmp_path / net)
    assert summary["status"] == "completed"
    return pd.read_csv(tmp_path / net / "activations.csv")


def test_snn_stays_normalized_and_tanh_xavier_does_not(tmp_path) -> None:
    snn = _run_stats(tmp_path, "snn_alpha_dropout")
    assert len(snn) == 2 * 24
    post = snn[snn["kind"] == "post"]
    assert post["mean"].abs().max() < 0.1
    assert (post["var"] - 1.0).abs().max() < 0.25
    tanh = _run_stats(tmp_path, "tanh_xavier")
    last = tanh[(tanh["kind"] == "post") & (tanh["layer"] == 24)]
    # tanh with Xavier shrinks the variance layer after layer
    assert last["var"].item() < 0.1 and math.isfinite(last["mean"].item())

"""Mean-field theory (initlab.theory.kernels) against Monte-Carlo on the real initlab models.

Width 1024, 50 layers/blocks, He init, one draw, 8 synthetic pairs per initial cosine. Stated
tolerance: the measured cosine, averaged over a pair set, stays within COS_TOL = 0.04 of the
prediction at every layer (finite-width fluctuations measured at ~0.01-0.03 for this size), and
the prediction itself moves by much more than that over the depth (else the test is empty).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from initlab.analysis.features import layer_table, make_pairs
from initlab.compose import compose
from initlab.data import build_data
from initlab.setup import parse_config
from initlab.theory.kernels import resnet_recursion

WIDTH, DEPTH, COS_TOL = 1024, 50, 0.04
COSINES = [0.0, 0.5, 0.9]


@functools.cache
def measure(*overrides: str):
    cfg = compose(
        [
            "logger.wandb.mode=disabled",
            "data=synthetic",
            "data.dim=64",
            "data.samples=40",
            f"model.depth={DEPTH}",
            f"model.width={WIDTH}",
            *overrides,
        ]
    )
    setup = parse_config(cfg)
    data = build_data(setup.data)
    torch.manual_seed(0)
    model = setup.new_model(data)
    pairs = make_pairs(COSINES, 8, 64, torch.Generator().manual_seed(1))
    return layer_table(model, pairs.x, pairs=pairs.pairs, groups=pairs.group)


@pytest.mark.parametrize(
    ("overrides", "min_move"),
    [
        (["model=mlp"], 0.3),
        (["model=resnet"], 0.3),
        (["model=resnet", "model.norm=layer"], 0.15),
        (["model=resnet", "model.norm=scale"], 0.15),
    ],
    ids=["mlp", "resnet", "resnet_layernorm", "resnet_scalenorm"],
)
def test_cosines_follow_the_mean_field_map(overrides, min_move):
    table = measure(*overrides).copy()
    assert table.layer.max() == DEPTH
    for cos0, rows in table.groupby("group"):
        rows = rows.sort_values("layer")
        gap = np.abs(rows.cos_mean - rows.theory_cos).max()
        assert gap < COS_TOL, f"cos0={cos0}: max |measured - theory| = {gap:.3f}"
        if cos0 == 0.5:  # 0 is a fixed point with LayerNorm
            moved = abs(rows.theory_cos.iloc[-1] - rows.theory_cos.iloc[0])
            assert moved > min_move, f"cos0={cos0}: theory only moved {moved:.3f}"


def test_second_moments_follow_the_recursion():
    """MLP + He keeps the second moment; the plain ResNet multiplies it by 1 + gamma = 3."""
    mlp = measure("model=mlp").query("group == 0.0").sort_values("layer").second_moment
    res = measure("model=resnet").query("group == 0.0").sort_values("layer").second_moment
    assert abs(np.log(mlp.iloc[-1] / mlp.iloc[0])) / DEPTH < 0.05
    per_block = np.log(res.iloc[-1] / res.iloc[1]) / (DEPTH - 1)
    assert per_block == pytest.approx(np.log(3.0), abs=0.05)


def test_fixup_keeps_every_angle():
    table = measure("model=resnet", "init=fixup", "model.width=256")
    for _, rows in table.groupby("group"):
        assert np.ptp(rows.cos_mean.to_numpy()[1:]) < 1e-9  # zero branches: x_l = x_0
        assert np.abs(rows.cos_mean - rows.theory_cos).max() < COS_TOL


def test_normalized_branch_recursion_against_simulation():
    """No initlab model has a per-example normalized branch input: simulate one (width 1024,
    2 independent draws averaged, since the pairs of one draw share its weights)."""
    n, depth, c0, draws = WIDTH, DEPTH, 0.2, 2
    gen = torch.Generator().manual_seed(0)

    def mean_cos(x: torch.Tensor) -> float:
        xn = x / x.norm(dim=1, keepdim=True)
        return float((xn[0::2] * xn[1::2]).sum(1).mean())

    curves = []
    for _ in range(draws):
        x = make_pairs([c0], 8, n, gen).x.double()
        measured = [mean_cos(x)]
        for _ in range(depth):
            w1 = torch.randn(n, n, generator=gen, dtype=torch.float64) * np.sqrt(2 / n)
            w2 = torch.randn(n, n, generator=gen, dtype=torch.float64) * np.sqrt(2 / n)
            xn = x / x.pow(2).mean(1, keepdim=True).sqrt()
            x = x + torch.relu(xn @ w1.T) @ w2.T
            measured.append(mean_cos(x))
        curves.append(measured)
    measured = np.mean(curves, axis=0)
    theory, q, _ = resnet_recursion(c0, 1.0, depth=depth, mode="normalized")
    assert np.abs(measured - theory).max() < COS_TOL
    assert theory[-1] - theory[0] > 0.3
    assert q[-1] == pytest.approx(1.0 + 2.0 * depth)


def test_scale_norm_is_per_example_and_scale_only():
    from initlab.models.base import ScaleNorm

    x = torch.randn(6, 32, dtype=torch.float64) * torch.arange(1, 7, dtype=torch.float64)[:, None]
    out = ScaleNorm()(x)
    assert torch.allclose(out.pow(2).mean(1), torch.ones(6, dtype=torch.float64))
    assert torch.allclose(ScaleNorm()(x[:2]), out[:2])  # the rest of the batch does not matter
    assert torch.allclose(out / out.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True))
    assert not list(ScaleNorm().parameters())

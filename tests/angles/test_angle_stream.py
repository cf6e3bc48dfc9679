"""``task=angle_stream``: the streamed network is the project's model, layer by layer; its
theories against Monte-Carlo; the task end to end at toy size."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from initlab.analysis.features import layer_features, make_pairs
from initlab.compose import compose
from initlab.inits.base import initialize
from initlab.main import execute
from initlab.models import build_model
from initlab.setup import parse_config
from initlab.tasks.angle_stream import StreamedNetwork, measured_layers, theory_cosines
from initlab.theory.batchnorm import bn_relu_bn_gram

ARMS = {
    "mlp": ["model=mlp", "init=he"],
    "resnet": ["model=resnet", "init=he"],
    "resnet_bn": ["model=resnet_bn", "init=he"],
    "resnet_scale": ["model=resnet", "model.norm=scale", "init=he"],
    "resnet_fixup": ["model=resnet", "init=fixup", "model.scalar_affine=true"],
}


def setup_of(arm: str, depth: int, width: int, *extra: str):
    return parse_config(
        compose(
            [
                "logger.wandb.mode=disabled",
                "task=angle_stream",
                "data=digits_flat",
                *ARMS[arm],
                f"model.depth={depth}",
                f"model.width={width}",
                *extra,
            ]
        )
    )


def recorded_stream(setup, dim: int) -> tuple[StreamedNetwork, list]:
    """The stream with every module it draws recorded (a copy, in order)."""
    net = StreamedNetwork(setup, dim, 10)
    drawn = []
    for name in ("_draw_first", "_draw_repeated"):
        original = getattr(net, name)

        def record(original=original):
            module = original()
            drawn.append(copy.deepcopy(module))
            return module

        setattr(net, name, record)
    return net, drawn


@pytest.mark.parametrize("arm", sorted(ARMS))
def test_stream_is_the_project_model_with_the_same_weights(arm):
    """Load the modules the stream drew into the project's full model: its ``layers`` give the
    stream's outputs (times the stream's per-row scale) at every layer, in float64. Depth 40 for
    the homogeneous networks (their rows are rescaled after every layer), 6 otherwise."""
    depth = 6 if arm in ("resnet_bn", "resnet_scale") else 40
    setup = setup_of(arm, depth, 32)
    x = torch.randn(12, 16, generator=torch.Generator().manual_seed(0))
    net, drawn = recorded_stream(setup, 16)
    streamed = [[(h.clone(), s.clone()) for h, s in hs] for hs in net.layers([x], 7, [True])]
    model = build_model(setup.model, (16,), 10).double()
    if arm == "mlp":
        for target, source in zip(model.hidden, drawn, strict=True):
            target.load_state_dict(source.state_dict())
    else:
        model.stem.load_state_dict(drawn[0].state_dict())
        for target, source in zip(model.blocks, drawn[1:], strict=True):
            target.load_state_dict(source.state_dict())
    features = layer_features(model, x.double())[1:]  # BN with batch statistics, as the stream
    assert len(features) == len(streamed) == depth
    for layer, ((h, log_scale),), ref in zip(range(1, depth + 1), streamed, features):
        got = h * log_scale.exp()[:, None]
        torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-12, msg=f"layer {layer}")
    assert net.homogeneous == (arm in ("mlp", "resnet", "resnet_fixup"))


def test_fixup_stream_scales_the_inner_layer_by_the_full_depth():
    """Fixup's W1 has variance 2 / fan_in / L for the FULL depth L (m = 2), W2 = 0."""
    setup = setup_of("resnet_fixup", 50, 256)
    net, drawn = recorded_stream(setup, 16)
    for _ in zip(range(3), net.layers([torch.randn(4, 16)], 0)):
        pass
    w1, w2 = drawn[1].weight_layers
    assert float(w1.weight.detach().pow(2).mean()) * 256 == pytest.approx(2.0 / 50, rel=0.03)
    assert torch.all(w2.weight == 0)


def test_measured_layers_are_dense_then_log_spaced_with_the_round_depths():
    layers = measured_layers(500, 8, 40)
    assert list(layers[:9]) == list(range(9)) and layers[-1] == 500
    assert {10, 20, 50, 100, 200, 500} <= set(layers.tolist()) and len(layers) < 60
    assert np.all(np.diff(layers) > 0)


def test_batchnorm_branch_output_is_centred_over_the_batch():
    """V (the Gram of bn(relu(.))) has zero row sums: the mean off-diagonal entry of a unit-
    diagonal B x B Gram is then -1 / (B - 1), the pull that keeps BN angles away from 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 30))
    gram = x @ x.T / 30
    v = bn_relu_bn_gram(gram, 4000, rng)
    np.testing.assert_allclose(v.sum(1), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.diag(v).mean(), 1.0, atol=1e-9)


def test_batch_recursion_against_the_project_model_at_width_1024():
    """The mean-field batch recursion against the real resnet_bn (batch statistics) at width
    1024, 6 blocks, a batch of 16 inputs (pairs of cosines 0, 0.5, 0.9, 0.99), mean over 3
    draws. Stated tolerance: every pair's cosine within 0.08 of the theory (finite-width
    fluctuations ~ 1 / sqrt(1024) = 0.03 per draw and pair, 0.018 over 3 draws: 4.5 sd), the
    mean error over pairs and layers within 0.02; the
    theory itself moves the 0.99 pairs' cosine by > 0.05 (else the test is empty)."""
    depth, width = 6, 1024
    setup = setup_of("resnet_bn", depth, width)
    pairs = make_pairs([0.0, 0.5, 0.9, 0.99], 2, 784, torch.Generator().manual_seed(0))
    x = pairs.x.double()
    idx = pairs.pairs.numpy()
    kind, theory = theory_cosines(setup, x.numpy(), idx, samples=20_000)
    assert kind.startswith("batch mean-field") and theory.shape == (depth + 1, len(idx))
    measured = []
    for draw in range(3):
        torch.manual_seed(draw)
        model = build_model(setup.model, (784,), 10)
        initialize(model, setup.init)
        h = layer_features(model, x)[1:]  # layers 1..depth
        unit = [torch.nn.functional.normalize(f, dim=1) for f in h]
        measured.append([(u[idx[:, 0]] * u[idx[:, 1]]).sum(1).numpy() for u in unit])
    mean = np.mean(measured, axis=0)
    error = mean - theory[1:]
    assert np.abs(error).max() < 0.08, np.abs(error).max()
    assert np.abs(error.mean()) < 0.02, error.mean()
    assert abs(theory[-1, -1] - theory[0, -1]) > 0.05


def test_plain_recursion_survives_the_norm_overflow_of_500_blocks():
    """A He ResNet's second moment grows like 3^l (inf in float64 past ~645 blocks, the product
    q q' past ~320): the cosine recursion must not turn NaN."""
    from initlab.theory.kernels import resnet_recursion

    c, q, _ = resnet_recursion([0.0, 0.9], 2.0, depth=800)
    assert np.all(np.isfinite(c)) and np.all(np.diff(c[:, 0]) >= 0) and np.isinf(q[-1]).all()


@pytest.mark.slow
def test_task_end_to_end_writes_theory_and_the_float64_check(tmp_path):
    cfg = compose(
        [
            "logger.wandb.mode=disabled",
            "experiment=b1_b3_angles",
            "data=digits_flat",
            "arm=stream_resnet_bn",
            "model.depth=12",
            "model.width=32",
            "task.seeds=2",
            "task.pairs_per_cosine=2",
            "task.data_pairs=4",
            "task.theory_samples=500",
        ]
    )
    summary = execute(cfg, tmp_path)
    assert summary["status"] == "completed"
    table = pd.read_csv(tmp_path / "angles.csv")
    assert set(table.layer) == set(measured_layers(12, 8, 40).tolist())
    assert table.theory_angle.notna().all()
    assert set(table.theory) == {"batch mean-field (Monte Carlo)"}
    assert table[table.draw == 0].angle_float64.notna().all()
    assert table[table.draw == 1].angle_float64.isna().all()
    first = table[table.layer == 0]
    np.testing.assert_allclose(first.angle_mean, first.theory_angle, atol=1e-6)
    assert set(table.group) == {"0", "0.5", "0.9", "0.99", "data"}

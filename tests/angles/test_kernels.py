"""Closed-form properties of the mean-field maps (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.theory.kernels import (
    angle,
    centered_relu_correlation,
    mlp_correlations,
    relu_correlation,
    resnet_recursion,
)


def test_arc_cosine_map_against_sampling():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 400_000))
    for c in (-0.5, 0.0, 0.3, 0.9):
        u, v = z[0], c * z[0] + np.sqrt(1 - c**2) * z[1]
        ru, rv = np.maximum(u, 0), np.maximum(v, 0)
        assert relu_correlation(c) == pytest.approx(2 * (ru * rv).mean(), abs=5e-3)
        centered = np.corrcoef(ru, rv)[0, 1]
        assert centered_relu_correlation(c) == pytest.approx(centered, abs=5e-3)
    assert relu_correlation([0.0, 1.0]) == pytest.approx([1 / np.pi, 1.0])


def test_mlp_angle_tail_is_three_pi_over_l():
    """theta' = theta - theta^2 / (3 pi) + O(theta^3) near 0, so theta_l * l / (3 pi) -> 1."""
    depth = 20_000
    theta = angle(mlp_correlations(0.0, depth))
    assert theta[-1] * depth / (3 * np.pi) == pytest.approx(1.0, abs=0.02)
    assert np.all(np.diff(theta) < 0)


def test_plain_residual_cosine_ignores_norms_and_fixup_keeps_it():
    c, q, qo = resnet_recursion([0.2, 0.2], [1.0, 5.0], [3.0, 0.5], depth=30)
    np.testing.assert_allclose(c[:, 0], c[:, 1])
    np.testing.assert_allclose(q[:, 0], 3.0 ** np.arange(31))
    c_fix, q_fix, _ = resnet_recursion(0.2, 1.0, depth=30, gain2=0.0)
    np.testing.assert_allclose(c_fix, 0.2)
    np.testing.assert_allclose(q_fix, 1.0)


def test_layernorm_residual_drifts_to_zero_correlation():
    c, q, _ = resnet_recursion([0.5, 0.95], 2.0, depth=2000, mode="layernorm")
    assert np.all(np.diff(c, axis=0) < 0)
    assert np.all(c[-1] < c[0] - 0.3)  # slowly: the branch share falls like 1 / l
    np.testing.assert_allclose(q[-1], 2.0 + 2.0 * 2000)
    with pytest.raises(ValueError, match="mode"):
        resnet_recursion(0.5, 1.0, depth=1, mode="batch")

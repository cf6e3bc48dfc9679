"""Hutchinson trace and stochastic Lanczos quadrature against dense eigendecompositions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initlab.analysis.dense import dense_hessian
from initlab.analysis.hvp import loss_hvp
from initlab.analysis.spectrum import (
    hutchinson_trace,
    lanczos_tridiagonal,
    select_parameters,
    slq,
)


class Tiny(nn.Module):
    def __init__(self, d=5, width=6, classes=3):
        super().__init__()
        self.hidden = nn.Linear(d, width)
        self.out = nn.Linear(width, classes)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = Tiny().double()
    x = torch.randn(40, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    chunks = [(x[:25], y[:25]), (x[25:], y[25:])]
    return model, chunks


def test_hutchinson_trace_within_four_standard_errors_of_the_dense_trace(tiny):
    model, chunks = tiny
    op = loss_hvp(model, F.cross_entropy, chunks)
    exact = float(torch.trace(dense_hessian(model, F.cross_entropy, chunks)))
    est = hutchinson_trace(op, op.n, probes=200, seed=1, dtype=torch.float64)
    assert est.stderr > 0
    assert abs(est.value - exact) <= 4 * est.stderr, (est.value, exact, est.stderr)


def test_hutchinson_coverage_on_a_known_matrix():
    """+-2 s.e. holds the trace in about 95% of repeated estimates."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    a = torch.tensor(q @ np.diag(rng.normal(size=30)) @ q.T)
    exact = float(torch.trace(a))
    hits = 0
    for seed in range(200):
        est = hutchinson_trace(lambda v: a @ v, 30, probes=30, seed=seed, dtype=torch.float64)
        hits += abs(est.value - exact) <= 1.96 * est.stderr
    assert 0.88 <= hits / 200 <= 0.99


def test_quadrature_is_exact_for_low_powers_per_probe(tiny):
    """k Lanczos steps integrate v^T H^p v exactly for p <= 2k - 1."""
    model, chunks = tiny
    h = dense_hessian(model, F.cross_entropy, chunks)
    v0 = torch.randn(h.shape[0], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    v = v0 / v0.norm()
    alpha, beta = lanczos_tridiagonal(lambda u: h @ u, v0, steps=4)
    theta, vecs = np.linalg.eigh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))
    for power in range(8):
        exact = float(v @ torch.linalg.matrix_power(h, power) @ v)
        quad = float((vecs[0] ** 2 * theta**power).sum())
        assert quad == pytest.approx(exact, rel=1e-8, abs=1e-12), power


def test_slq_moments_match_the_exact_spectral_moments(tiny):
    model, chunks = tiny
    h = dense_hessian(model, F.cross_entropy, chunks)
    eig = torch.linalg.eigvalsh(h).numpy()
    op = loss_hvp(model, F.cross_entropy, chunks)
    density = slq(op, op.n, probes=60, steps=12, seed=0, dtype=torch.float64)
    assert np.allclose(density.weights.sum(axis=1), 1.0)
    for power in (1, 2, 3, 4):
        exact = float((eig**power).mean())
        est, se = density.moment(power), density.moment_stderr(power)
        assert abs(est - exact) <= 4 * se + 1e-10, (power, est, exact, se)
    # the nodes reach the extreme eigenvalues (Lanczos converges there first)
    assert density.nodes.max() == pytest.approx(eig.max(), rel=1e-3)
    assert density.nodes.min() == pytest.approx(eig.min(), rel=1e-3, abs=1e-6)
    grid = np.linspace(eig.min() - 1, eig.max() + 1, 4001)
    mass = np.trapezoid(density.density(grid, sigma=0.01), grid)
    assert mass == pytest.approx(1.0, rel=1e-3)


def test_parameter_subset_gives_the_diagonal_block(tiny):
    model, chunks = tiny
    names, params = select_parameters(model, ["out.*"])
    assert names == ["out.weight", "out.bias"]
    full = dense_hessian(model, F.cross_entropy, chunks)
    n_hidden = sum(p.numel() for p in model.hidden.parameters())
    block = full[n_hidden:, n_hidden:]
    op = loss_hvp(model, F.cross_entropy, chunks, params)
    eye = torch.eye(op.n, dtype=torch.float64)
    assert torch.allclose(torch.stack([op(e) for e in eye]), block, atol=1e-10)
    with pytest.raises(ValueError, match="no parameter matches"):
        select_parameters(model, ["blocks.*"])

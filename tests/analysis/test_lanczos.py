"""Lanczos against dense eigendecompositions, on matrices and on Hessians of tiny models."""

import pytest
import torch
from torch import nn

from initlab.analysis.dense import dense_hessian
from initlab.analysis.hvp import loss_hvp
from initlab.analysis.lanczos import lanczos, ritz_residuals

F64 = torch.float64


def sym_with_spectrum(eigs, seed=0):
    n = len(eigs)
    q, _ = torch.linalg.qr(
        torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=F64)
    )
    return q @ torch.diag(torch.tensor(eigs, dtype=F64)) @ q.T


class TinyResNet(nn.Module):
    """Two residual blocks x + W2 relu(W1 x) with W2 = 0 and a classifier: Fixup-like at init."""

    def __init__(self, d=6, width=8, classes=3):
        super().__init__()
        self.inp = nn.Linear(5, d)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, d)) for _ in range(2)
        )
        for b in self.branches:
            nn.init.zeros_(b[2].weight)
            nn.init.zeros_(b[2].bias)
        self.out = nn.Linear(d, classes)

    def forward(self, x):
        h = self.inp(x)
        for b in self.branches:
            h = h + b(h)
        return self.out(h)


def tiny_models():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 3)).double()
    torch.manual_seed(0)
    return {"mlp": mlp, "resnet": TinyResNet().double()}


@pytest.mark.parametrize("name", ["mlp", "resnet"])
def test_extremes_match_dense_hessian_of_tiny_models(name):
    model = tiny_models()[name]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 5, generator=g, dtype=F64)
    y = torch.randint(3, (40,), generator=g)
    batches = [(x[:25], y[:25]), (x[25:], y[25:])]
    loss_fn = nn.functional.cross_entropy
    eig = torch.linalg.eigvalsh(dense_hessian(model, loss_fn, batches))
    op = loss_hvp(model, loss_fn, batches)
    res = lanczos(op, op.n, k=2, tol=1e-9, max_iter=op.n)
    assert res.converged
    assert res.matvecs == op.calls
    scale = eig.abs().max()
    assert eig[0] < -0.05 * scale  # an indefinite spectrum: the bottom end is a real test
    assert torch.allclose(res.top, eig.flip(0)[:2], rtol=1e-5, atol=0)
    assert torch.allclose(res.bottom, eig[:2], rtol=1e-5, atol=0)


def test_large_negative_eigenvalue_is_not_mistaken_for_the_top():
    # |lambda_min| > lambda_max: power iteration would return -50
    eigs = [-50.0, -3.0, *torch.linspace(-1, 1, 60).tolist(), 7.0, 20.0]
    a = sym_with_spectrum(eigs)
    res = lanczos(lambda v: a @ v, a.shape[0], k=2, tol=1e-10, max_iter=64)
    assert torch.allclose(res.top, torch.tensor([20.0, 7.0], dtype=F64), rtol=1e-8)
    assert torch.allclose(res.bottom, torch.tensor([-50.0, -3.0], dtype=F64), rtol=1e-8)


def test_stopping_rule_bounds_residual_and_error():
    eigs = torch.cat([torch.tensor([100.0, 90.0, -80.0]), torch.linspace(-10, 10, 397)])
    a = sym_with_spectrum(eigs.tolist())
    tol = 1e-4
    res = lanczos(lambda v: a @ v, 400, k=1, tol=tol, max_iter=400, return_vectors=True)
    assert res.converged and res.iterations < 100  # stopped early, not by filling the space
    for vals, vecs, est in [
        (res.top, res.top_vectors, res.top_residuals),
        (res.bottom, res.bottom_vectors, res.bottom_residuals),
    ]:
        true = ritz_residuals(lambda v: a @ v, vals, vecs)
        assert torch.allclose(true, est, rtol=1e-3, atol=1e-10)  # the free estimate is right
        assert torch.all(true <= tol * vals.abs())
    assert abs(res.top[0] - 100) <= tol * 100 and abs(res.bottom[0] + 80) <= tol * 80


def test_breakdown_on_low_rank_operator():
    # rank 3 in R^40 with exact zeros: the Krylov space is invariant after 4 steps
    a = sym_with_spectrum([10.0, -7.0, 3.0] + [0.0] * 37, seed=3)
    a = torch.where(a.abs() < 1e-300, torch.zeros_like(a), a)
    res = lanczos(lambda v: a @ v, 40, k=1, tol=1e-8, max_iter=40)
    assert res.converged and res.iterations <= 5
    assert res.top[0] == pytest.approx(10.0, rel=1e-10)
    assert res.bottom[0] == pytest.approx(-7.0, rel=1e-10)


def test_restart_when_fewer_distinct_eigenvalues_than_requested():
    # 2 I has one distinct eigenvalue: every step breaks down; restarts supply k Ritz values
    res = lanczos(lambda v: 2 * v, 10, k=3, tol=1e-12, max_iter=10)
    assert res.converged and res.restarts == 2 and res.iterations == 3
    assert torch.allclose(res.top, torch.full((3,), 2.0, dtype=F64))
    zero = lanczos(lambda v: 0 * v, 10, k=1)
    assert zero.converged and zero.top[0] == 0 and zero.bottom[0] == 0


def test_deterministic_and_float32_operator():
    a = sym_with_spectrum(torch.linspace(-2, 5, 80).tolist(), seed=4)
    a32 = a.float()

    class Op:
        dtype, device = torch.float32, torch.device("cpu")

        def __call__(self, v):
            return a32 @ v

    r1 = lanczos(Op(), 80, k=1, tol=1e-5, seed=7)
    r2 = lanczos(Op(), 80, k=1, tol=1e-5, seed=7)
    assert torch.equal(r1.top, r2.top) and r1.iterations == r2.iterations
    assert r1.top[0] == pytest.approx(5.0, rel=1e-5)
    assert r1.bottom[0] == pytest.approx(-2.0, rel=1e-5)


def test_which_selects_sides_and_validates():
    a = sym_with_spectrum([1.0, 2.0, 3.0, 4.0])
    top_only = lanczos(lambda v: a @ v, 4, which="largest")
    assert top_only.bottom.numel() == 0 and top_only.top[0] == pytest.approx(4.0)
    with pytest.raises(ValueError):
        lanczos(lambda v: a @ v, 4, which="middle")


@pytest.mark.parametrize("stop_at", [1, 7])
def test_a_run_resumed_from_a_snapshot_equals_the_uninterrupted_run(stop_at):
    """Resume mid-way (the state a checkpoint holds, copied as a file would), including across
    a breakdown restart: the matrix has 4 distinct eigenvalues, so Lanczos restarts after 4."""
    import copy

    a = sym_with_spectrum([5.0] * 3 + [1.0] * 3 + [-2.0] * 3 + [0.5] * 3, seed=3)
    kwargs = {"k": 5, "tol": 1e-10, "max_iter": 10, "seed": 4}  # k > 4: it must restart
    whole = lanczos(lambda v: a @ v, 12, **kwargs)
    assert whole.restarts >= 1 and whole.iterations > stop_at
    saved = []
    lanczos(lambda v: a @ v, 12, **kwargs,
            snapshot=lambda s: saved.append(copy.deepcopy(s)))  # fmt: skip
    state = next(s for s in saved if s["m"] == stop_at)
    calls = []
    resumed = lanczos(lambda v: calls.append(1) or a @ v, 12, **kwargs, resume=state)
    assert len(calls) == whole.iterations - stop_at  # only the steps after the snapshot
    assert torch.equal(resumed.ritz_values, whole.ritz_values)
    assert torch.equal(resumed.top, whole.top) and resumed.restarts == whole.restarts

"""Hessian-vector products: finite differences, chunking, the dense Hessian, helpers."""

import pytest
import torch
from torch import nn

from initlab.analysis.dense import dense_hessian
from initlab.analysis.hvp import (
    batchnorm_batch_stats,
    flatten,
    full_gradient,
    loss_hvp,
    trainable_params,
    unflatten,
)

N = 50
# torch registers its forward-AD decompositions with torch.jit.script on first use
TORCH_JIT_WARNING = "ignore:`torch.jit.script` is deprecated:FutureWarning"


def make_data(n=N, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(classes, (n,), generator=g)
    return x, y


def chunks(x, y, size):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, x.shape[0], size)]


def make_mlp(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3)).to(dtype)


def set_flat(params, vec):
    with torch.no_grad():
        for p, v in zip(params, unflatten(vec, params)):
            p.copy_(v)


def test_flatten_unflatten_roundtrip():
    params = trainable_params(make_mlp())
    vec = flatten(params)
    assert vec.shape == (sum(p.numel() for p in params),)
    for p, q in zip(params, unflatten(vec, params)):
        assert torch.equal(p, q)
    with pytest.raises(ValueError):
        unflatten(vec[:-1], params)


def test_hvp_matches_central_finite_differences():
    model = make_mlp()
    x, y = make_data()
    loss_fn = nn.functional.cross_entropy
    params = trainable_params(model)
    theta = flatten(params).detach().clone()
    v = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    hv = loss_hvp(model, loss_fn, [(x, y)])(v)

    eps = 1e-5
    set_flat(params, theta + eps * v)
    g_plus, _ = full_gradient(model, loss_fn, [(x, y)])
    set_flat(params, theta - eps * v)
    g_minus, _ = full_gradient(model, loss_fn, [(x, y)])
    set_flat(params, theta)
    fd = (g_plus - g_minus) / (2 * eps)
    # truncation O(eps^2) and rounding O(1e-16 / eps) are both far below 1e-8 here
    assert (hv - fd).norm() <= 1e-8 * hv.norm()


@pytest.mark.parametrize("size", [1, 7, 16, 49])
def test_chunked_equals_one_batch(size):
    model = make_mlp()
    x, y = make_data()
    loss_fn = nn.functional.cross_entropy
    v = torch.randn(
        sum(p.numel() for p in model.parameters()),
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(2),
    )
    one_hv = loss_hvp(model, loss_fn, [(x, y)])(v)
    many_hv = loss_hvp(model, loss_fn, chunks(x, y, size))(v)
    assert (one_hv - many_hv).norm() <= 1e-12 * one_hv.norm()
    one_g, one_loss = full_gradient(model, loss_fn, [(x, y)])
    many_g, many_loss = full_gradient(model, loss_fn, iter(chunks(x, y, size)))
    assert (one_g - many_g).norm() <= 1e-12 * one_g.norm()
    assert many_loss == pytest.approx(one_loss, rel=1e-12)


def test_hvp_columns_equal_dense_autograd_hessian_and_count_calls():
    model = make_mlp()
    x, y = make_data(n=20)
    loss_fn = nn.functional.cross_entropy
    op = loss_hvp(model, loss_fn, chunks(x, y, 6))
    h = dense_hessian(model, loss_fn, chunks(x, y, 8))
    eye = torch.eye(op.n, dtype=torch.float64)
    cols = torch.stack([op(eye[:, j]) for j in range(0, op.n, 5)], dim=1)
    assert torch.allclose(cols, h[:, ::5], rtol=0, atol=1e-12 * h.abs().max())
    assert torch.allclose(h, h.T, atol=1e-13)
    assert op.calls == len(range(0, op.n, 5))


def test_dense_rows_match_torch_functional_hessian_and_a_cut_keeps_the_first_rows():
    """The row-by-row dense Hessian against torch's own, and ``rows=k`` (the rehearsal's cut)
    forms exactly the first k rows, calling ``on_row`` once per row and chunk."""
    from torch.func import functional_call

    from initlab.analysis.hvp import param_names

    model = make_mlp()
    x, y = make_data(n=12)
    loss_fn = nn.functional.cross_entropy
    params = trainable_params(model)
    names = param_names(model, params)
    theta0 = flatten([p.detach() for p in params])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        values = dict(zip(names, unflatten(theta, params), strict=True))
        return loss_fn(functional_call(model, values, (x,), tie_weights=False), y)

    reference = torch.autograd.functional.hessian(loss, theta0)
    full = dense_hessian(model, loss_fn, chunks(x, y, 12))
    assert torch.allclose(full, reference, rtol=0, atol=1e-12 * reference.abs().max())
    calls = []
    cut = dense_hessian(model, loss_fn, chunks(x, y, 6), rows=7, on_row=lambda: calls.append(1))
    assert len(calls) == 7 * 2
    assert torch.allclose(cut[:7], reference[:7], rtol=0, atol=1e-12 * reference.abs().max())
    assert torch.all(cut[7:] == 0) and reference[7:].abs().max() > 0


def test_unused_parameter_gets_zero_curvature_and_float32_works():
    model = make_mlp(dtype=torch.float32)
    model.unused = nn.Parameter(torch.ones(4))
    x, y = make_data()
    op = loss_hvp(model, nn.functional.cross_entropy, [(x.float(), y)])
    v = torch.ones(op.n)
    hv = op(v)
    assert hv.dtype == torch.float32 and op.n == 6 * 10 + 10 + 10 * 3 + 3 + 4
    parts = dict(zip([id(p) for p in op.params], unflatten(hv, op.params)))
    assert torch.all(parts[id(model.unused)] == 0)
    assert parts[id(model[0].weight)].abs().max() > 0


def test_batchnorm_batch_stats_leaves_running_stats_and_restores_modes():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)
    ).double()
    model.train()
    bn = model[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    x, y = make_data()
    with batchnorm_batch_stats(model):
        assert bn.training and not model[3].training
        op = loss_hvp(model, nn.functional.cross_entropy, [(x, y)])
        hv1 = op(torch.ones(op.n, dtype=torch.float64))
        hv2 = op(torch.ones(op.n, dtype=torch.float64))
    assert torch.equal(hv1, hv2)  # dropout off: deterministic
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]
    assert model.training and bn.track_running_stats


@pytest.mark.filterwarnings(TORCH_JIT_WARNING)
def test_forward_over_reverse_equals_double_backward():
    model = make_mlp()
    model.unused = nn.Parameter(torch.ones(2, dtype=torch.float64))
    x, y = make_data()
    loss_fn = nn.functional.cross_entropy
    v = torch.randn(6 * 10 + 10 + 10 * 3 + 3 + 2, dtype=torch.float64)
    ref = loss_hvp(model, loss_fn, chunks(x, y, 16))(v)
    fwd = loss_hvp(model, loss_fn, chunks(x, y, 16), method="forward_over_reverse")(v)
    assert (fwd - ref).norm() <= 1e-12 * ref.norm()
    with pytest.raises(ValueError):
        loss_hvp(model, loss_fn, [(x, y)], method="finite_differences")


@pytest.mark.filterwarnings(TORCH_JIT_WARNING)
def test_forward_over_reverse_with_batchnorm_in_batch_stats_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    x, y = make_data()
    v = torch.randn(6 * 8 + 8 + 8 + 8 + 8 * 3 + 3, dtype=torch.float64)
    with batchnorm_batch_stats(model):
        ref = loss_hvp(model, nn.functional.cross_entropy, [(x, y)])(v)
        fwd = loss_hvp(model, nn.functional.cross_entropy, [(x, y)], method="forward_over_reverse")(
            v
        )
    assert (fwd - ref).norm() <= 1e-12 * ref.norm()

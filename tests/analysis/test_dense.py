"""Dense Hessian block structure: zero-initialized layers make whole blocks vanish (claim A3)."""

import pytest
import torch
from torch import nn

from initlab.analysis.dense import block_structure, dense_hessian, roundoff_threshold
from initlab.analysis.hvp import trainable_params


def mlp_and_data(zero_last_weight):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 5), nn.Tanh(), nn.Linear(5, 3)
    ).double()
    if zero_last_weight:
        nn.init.zeros_(model[4].weight)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 4, generator=g, dtype=torch.float64)
    y = torch.randint(3, (16,), generator=g)
    return model, [(x[:10], y[:10]), (x[10:], y[10:])]


def structure(model, batches):
    h = dense_hessian(model, nn.functional.cross_entropy, batches)
    names = [n for n, _ in model.named_parameters()]
    return block_structure(h, [p.shape for p in trainable_params(model)], names)


def test_zeroed_last_weight_gives_exactly_the_expected_zero_blocks():
    s = structure(*mlp_and_data(zero_last_weight=True))
    assert s.names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    # With W3 = 0 the logits do not depend on the first four tensors to any order, so their
    # mutual blocks and their blocks with the last bias vanish; everything touching W3 does not.
    expected = torch.zeros(6, 6, dtype=torch.bool)
    expected[:4, :4] = True
    expected[5, :4] = expected[:4, 5] = True
    assert torch.equal(s.zero, expected)
    assert s.zero_fraction == pytest.approx(24 / 36)
    assert torch.all(s.abs_max[~expected] > 0)
    assert 0 < s.zero_entry_fraction < 1


def test_generic_init_has_no_zero_block_and_shapes_are_checked():
    model, batches = mlp_and_data(zero_last_weight=False)
    s = structure(model, batches)
    assert s.zero_fraction == 0.0 and not s.zero.any()
    assert torch.allclose(s.abs_max, s.abs_max.T) and torch.all(s.abs_mean <= s.abs_max)
    assert s.sizes == [20, 5, 25, 5, 15, 3]
    with pytest.raises(ValueError):
        block_structure(torch.zeros(5, 5), [(2,), (2,)], ["a", "b"])


def test_chunked_dense_hessian_equals_one_batch():
    model, batches = mlp_and_data(zero_last_weight=False)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    h_chunks = dense_hessian(model, nn.functional.cross_entropy, batches)
    h_one = dense_hessian(model, nn.functional.cross_entropy, [(x, y)])
    assert (h_chunks - h_one).abs().max() <= 1e-12 * h_one.abs().max()


def bn_net_and_data():
    """Linear -> BatchNorm (batch statistics) -> tanh -> Linear: the first layer's bias is
    removed by the normalisation, so its Hessian rows are analytically zero, but the double
    backward leaves round-off there (not exact zeros)."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(4)
    x = torch.randn(32, 4, generator=g, dtype=torch.float64)
    y = torch.randint(3, (32,), generator=g)
    return model, [(x, y)]


def test_roundoff_threshold_is_gamma_k_of_the_precision():
    u = 2.0**-53
    assert roundoff_threshold(1) == pytest.approx(u / (1 - u), rel=1e-12)
    assert roundoff_threshold(1000) == pytest.approx(1000 * u / (1 - 1000 * u), rel=1e-12)
    assert roundoff_threshold(10, torch.float32) == pytest.approx(10 * 2.0**-24, rel=1e-6)
    with pytest.raises(ValueError):
        roundoff_threshold(0)
    with pytest.raises(ValueError):
        roundoff_threshold(2**60)  # k u >= 1: no bound


def test_relative_threshold_finds_batchnorm_analytic_zeros_that_exact_count_misses():
    model, batches = bn_net_and_data()
    model.train()  # batch statistics, as task=hessian_structure evaluates BatchNorm
    h = dense_hessian(model, nn.functional.cross_entropy, batches)
    h = 0.5 * (h + h.T)
    params = trainable_params(model)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in params]
    n = h.shape[0]
    eps = roundoff_threshold(32 * n)
    exact = block_structure(h, shapes, names)
    rel = block_structure(h, shapes, names, threshold=eps)
    bias = names.index("0.bias")
    # the bias before BatchNorm: analytically zero rows, round-off in float64 (not exact)
    assert not exact.zero[bias].all() and rel.zero[bias].all() and rel.zero[:, bias].all()
    assert 0 < rel.largest_zero_rel <= eps
    # every other block is far above the threshold (the gap the threshold sits in)
    others = [i for i in range(len(names)) if i != bias]
    assert not rel.zero[others][:, others].any()
    assert rel.smallest_nonzero_rel > 1e6 * eps
    assert rel.zero_fraction > exact.zero_fraction == exact.exact_zero_fraction
    # dense float64 check: zeroing the blocks counted zero moves no eigenvalue by more than
    # their norm (Weyl's inequality) plus the eigensolver's own round-off (n u ||H||): the
    # count discards nothing the spectrum sees
    cut = h.clone()
    bounds = torch.tensor([0, *rel.sizes]).cumsum(0).tolist()
    for a in range(len(names)):
        for b in range(len(names)):
            if rel.zero[a, b]:
                cut[bounds[a] : bounds[a + 1], bounds[b] : bounds[b + 1]] = 0
    shift = (torch.linalg.eigvalsh(cut) - torch.linalg.eigvalsh(h)).abs().max()
    removed = torch.linalg.matrix_norm(h - cut, ord=2)
    assert removed <= n * eps * rel.scale
    solver = n * 2.0**-53 * torch.linalg.matrix_norm(h, ord=2)
    assert shift <= removed + solver
    # the gradient w.r.t. the bias is zero up to round-off too (the rows' origin)
    loss = nn.functional.cross_entropy(model(batches[0][0]), batches[0][1])
    (grad,) = torch.autograd.grad(loss, model[0].bias)
    assert grad.abs().max() <= eps

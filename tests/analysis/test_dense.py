"""Dense Hessian block structure: zero-initialized layers make whole blocks vanish (claim A3)."""

import pytest
import torch
from torch import nn

from initlab.analysis.dense import block_structure, dense_hessian
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

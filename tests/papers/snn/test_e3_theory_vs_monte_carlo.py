"""E3's theory curves against a wide SELU / LeCun network: the map g iterated from a start off
the fixed point predicts the network's pooled layer moments, layer by layer.

Width n = 1024, 2048 inputs, 4 layers, one fixed seed. Tolerance: 4 standard errors of a width-n
layer's pooled statistics (E3's band derivation, ``e3_band``): |mean - mu_l| <= 4 / sqrt(n)
(0.125) and |var - nu_l| <= 4 sqrt(2 / n) nu_l (0.177 nu_l). Two weight laws, two maps:

- rows with weight sum exactly 0 and squared sum exactly 1 (omega = 0, tau = 1 for every unit):
  the paper's g at omega = 0, tau = 1;
- i.i.d. LeCun rows N(0, 1/n): a unit's weight sum is omega_j ~ N(0, 1), so the pooled
  pre-activation variance is nu + mu^2 (``moment_trajectory(random_weights=True)``).

Each network is also far outside the tolerance of the other map (the start (1, 0.25) separates
them: g forgets the mean offset at once, i.i.d. rows turn it into variance).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from initlab.theory.selu import moment_trajectory, selu01

WIDTH, BATCH, LAYERS = 1024, 2048, 4
START = (1.0, 0.25)


def _network_moments(centered: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    lam, alpha = selu01()
    gen = torch.Generator().manual_seed(seed)
    mu0, nu0 = START
    h = mu0 + nu0**0.5 * torch.randn(BATCH, WIDTH, generator=gen, dtype=torch.float64)
    means, variances = [], []
    for _ in range(LAYERS):
        w = torch.randn(WIDTH, WIDTH, generator=gen, dtype=torch.float64) / WIDTH**0.5
        if centered:
            w = w - w.mean(dim=1, keepdim=True)
            w = w / w.norm(dim=1, keepdim=True)
        z = h @ w.T
        h = lam * torch.where(z > 0, z, alpha * torch.expm1(z))
        mean = h.mean()
        means.append(float(mean))
        variances.append(float((h * h).mean() - mean * mean))
    return np.array(means), np.array(variances)


def _within(means, variances, theory) -> bool:
    mean_tol = 4 / WIDTH**0.5
    var_tol = 4 * (2 / WIDTH) ** 0.5 * theory[1]
    return bool(
        (np.abs(means - theory[0]) <= mean_tol).all()
        and (np.abs(variances - theory[1]) <= var_tol).all()
    )


@pytest.mark.parametrize("centered", [True, False])
def test_iterated_map_predicts_a_wide_selu_network(centered: bool) -> None:
    torch.set_num_threads(1)
    means, variances = _network_moments(centered)
    paper = moment_trajectory(*START, LAYERS)
    iid = moment_trajectory(*START, LAYERS, random_weights=True)
    right, wrong = (paper, iid) if centered else (iid, paper)
    assert _within(means, variances, right), (means, variances, right)
    assert not _within(means, variances, wrong), (means, variances, wrong)


def test_inputs_moved_off_the_fixed_point() -> None:
    from initlab.tasks.activation_stats import shifted_inputs, standardized_inputs

    x = standardized_inputs(torch.randn(512, 8, dtype=torch.float64) * 3 + 2, True)
    assert shifted_inputs(x, 0.0, 1.0) is x  # the defaults change nothing
    moved = shifted_inputs(x, -1.0, 4.0)
    assert torch.allclose(moved.mean(0), torch.full((8,), -1.0, dtype=torch.float64))
    assert torch.allclose(moved.var(0, unbiased=False), torch.full((8,), 4.0, dtype=torch.float64))

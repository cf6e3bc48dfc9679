"""Log-scale bisection for the largest stable learning rate."""

import math

import pytest
import torch

from initlab.training.lr_search import (
    gd_diverges,
    loss_rose,
    max_stable_lr,
    relative_increases,
)

THRESHOLD = 0.37


def step_probe(lr):
    return lr < THRESHOLD


@pytest.mark.parametrize("lo, hi", [(0.01, 10.0), (1e-4, 1e-3), (5.0, 50.0)])
def test_finds_threshold_with_bracket_expansion(lo, hi):
    res = max_stable_lr(step_probe, lo, hi, rel_tol=1e-3, max_probes=60)
    assert res.status == "converged"
    good, bad = res.bracket
    assert good == res.max_lr and good < THRESHOLD <= bad and bad / good <= 1 + 1e-3
    assert (THRESHOLD - res.max_lr) / THRESHOLD < 1e-3
    assert all(p.stable == (p.lr < THRESHOLD) for p in res.probes)


def test_diverging_probes_that_raise_or_return_nan_do_not_crash():
    def raising(lr):
        if lr >= THRESHOLD:
            raise FloatingPointError("loss is nan")
        return True

    def nan_valued(lr):
        return 1.0 if lr < THRESHOLD else float("nan")

    for probe in (raising, nan_valued, lambda lr: torch.tensor(lr < THRESHOLD)):
        res = max_stable_lr(probe, 0.01, 1.0, rel_tol=1e-2)
        assert res.status == "converged" and (THRESHOLD - res.max_lr) / THRESHOLD < 1e-2
    assert any("FloatingPointError" in p.note for p in max_stable_lr(raising, 0.01, 1.0).probes)

    def buggy(lr):
        raise KeyError("a bug, not a divergence")

    with pytest.raises(KeyError):
        max_stable_lr(buggy, 0.01, 1.0)


def test_budget_and_one_sided_outcomes():
    res = max_stable_lr(step_probe, 0.01, 10.0, rel_tol=1e-6, max_probes=6)
    assert res.status == "max_probes" and len(res.probes) == 6
    assert res.bracket[0] < THRESHOLD <= res.bracket[1]
    never = max_stable_lr(lambda lr: False, 1.0, 2.0, max_probes=5)
    assert never.status == "no_stable_lr" and never.max_lr == 0.0
    always = max_stable_lr(lambda lr: True, 1.0, 2.0, max_probes=5)
    assert always.status == "no_diverging_lr" and always.bracket[1] == math.inf
    assert always.max_lr == 2.0 * 10**3


def quadratic(eigs):
    q, _ = torch.linalg.qr(
        torch.randn(
            len(eigs), len(eigs), dtype=torch.float64, generator=torch.Generator().manual_seed(0)
        )
    )
    a = q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T
    return lambda params: 0.5 * params[0] @ a @ params[0]


def test_gd_on_quadratic_has_edge_at_two_over_lambda_max():
    lam_max = 4.0
    loss = quadratic([lam_max, 2.5, 1.0, 0.3, 0.1])
    x0 = [torch.ones(5, dtype=torch.float64)]
    edge = 2 / lam_max
    assert not gd_diverges(loss, x0, 0.99 * edge, steps=500).diverged
    out = gd_diverges(loss, x0, 1.01 * edge, steps=500)
    assert out.diverged and out.steps < 500 and out.final_loss > 10 * out.initial_loss
    assert torch.equal(x0[0], torch.ones(5, dtype=torch.float64))  # params untouched

    res = max_stable_lr(
        lambda lr: not gd_diverges(loss, x0, lr, steps=500).diverged, 1e-3, 1e-2, rel_tol=1e-2
    )
    assert res.status == "converged"
    assert abs(res.max_lr - edge) / edge <= 1e-2


def test_gd_reports_non_finite_loss():
    out = gd_diverges(lambda p: (p[0] ** 4).sum(), [torch.tensor([1e30])], 1.0, steps=3)
    assert out.diverged and not math.isfinite(out.final_loss)


def test_monotone_criterion_finds_two_over_lambda_on_a_quadratic():
    """GD's stability edge of a quadratic is 2 / lambda_max: just below it the loss falls every
    step, just above it the top direction grows by |1 - lr lambda| > 1 a step and the loss
    rises; the search returns the edge within its bisection tolerance, from below."""
    lam_max = 4.0
    loss = quadratic([lam_max, 2.5, 1.0, 0.3, 0.1])
    x0 = [torch.ones(5, dtype=torch.float64)]
    edge = 2 / lam_max

    def stable(lr):
        return not gd_diverges(loss, x0, lr, steps=40, criterion="monotone").diverged

    below = gd_diverges(loss, x0, 0.98 * edge, steps=40, criterion="monotone")
    assert not below.diverged and below.max_increase < 0 and below.final_loss < below.initial_loss
    above = gd_diverges(loss, x0, 1.02 * edge, steps=40, criterion="monotone")
    assert above.diverged and above.reason == "increase" and above.steps < 40
    # the blow-up rule misses a slow rise that the monotone rule catches
    assert not gd_diverges(loss, x0, 1.002 * edge, steps=40).diverged
    assert gd_diverges(loss, x0, 1.002 * edge, steps=40, criterion="monotone").diverged
    rel_tol = 0.02
    res = max_stable_lr(stable, 0.01, 0.1, rel_tol=rel_tol)
    assert res.status == "converged"
    low, high = res.bracket
    assert low <= edge < high and high / low <= 1 + rel_tol and res.max_lr == low


def test_loss_rose_rule():
    assert not loss_rose([3.0, 2.0, 2.0005, 1.0], 1e-3)  # a rise within the tolerance
    assert loss_rose([3.0, 2.0, 2.01, 1.0], 1e-3)  # one step up by 0.5%
    assert loss_rose([1.0, 0.9, 1.0005, 1.0009, 1.001], 1e-3)  # small rises ending above the start
    assert loss_rose([1.0, float("nan")], 1e-3) and loss_rose([1.0, float("inf")], 1e-3)
    assert relative_increases([2.0, 1.0, 1.5]) == [-0.5, 0.5]

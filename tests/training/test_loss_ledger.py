"""The loop's fast paths give bitwise the numbers of the general ones: the CPU ledger (epoch sum
on the host, a clean stretch settled in a few ops) against the device path, and the common
step's backward (the mean's gradient handed in) against ``loss.mean(-1).sum().backward()``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initlab.training import BatchLoss, LoopState, LossLedger


def _ledgers(factor: float) -> tuple[LossLedger, LossLedger]:
    host = LossLedger(factor, 1000, torch.device("cpu"))
    device = LossLedger(factor, 1000, torch.device("cpu"))
    device.host = False  # the path a GPU takes, run on the CPU
    return host, device


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
    )


@pytest.mark.parametrize("members", [None, 3])
@pytest.mark.parametrize("factor", [math.inf, 4.0])
def test_host_ledger_equals_device_ledger(members: int | None, factor: float) -> None:
    gen = torch.Generator().manual_seed(0)
    host, device = _ledgers(factor)
    shape = () if members is None else (members,)
    for epoch in range(3):
        for i in range(40):
            step = epoch * 40 + i
            loss = torch.rand(shape, generator=gen) * 3 + 0.5
            if members is not None and epoch == 1 and i == 7:
                loss[1] = 100.0  # one member above the factor (or a large loss with inf)
            if epoch == 2 and i == 3:
                loss = (
                    loss * float("nan")
                    if members is None
                    else loss.index_fill(0, torch.tensor([2]), math.inf)
                )
            size = 64 if i < 39 else 17
            for ledger in (host, device):
                ledger.add(loss.clone(), size, step)
            if i % 11 == 0:
                assert host.any_bad() == device.any_bad()
        assert _same(host.epoch_losses(), device.epoch_losses())
        for ledger in (host, device):
            ledger.epoch_sum = None
    for name in ("first", "peak", "bad", "bad_step", "bad_value", "last"):
        assert _same(getattr(host, name), getattr(device, name)), name
    assert repr(host.result("completed", LoopState())) == repr(
        device.result("completed", LoopState())
    )


def test_seeded_backward_equals_mean_backward() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    model.objective = lambda x, y: {
        "loss": nn.functional.cross_entropy(model(x), y, reduction="none")
    }
    x, y = torch.randn(42, 5), torch.randint(0, 3, (42,))
    loss = BatchLoss(model, "fp32", "cpu", None, None)(x, y, 0)
    seeded = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    reference = model.objective(x, y)["loss"].mean(-1)
    reference.backward()
    assert torch.equal(loss, reference.detach())
    assert all(torch.equal(a, p.grad) for a, p in zip(seeded, model.parameters(), strict=True))


def test_seeded_backward_equals_mean_backward_for_a_stack() -> None:
    torch.manual_seed(1)

    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 5, 3))

        def objective(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
            logits = torch.einsum("bf,kfc->kbc", x, self.w)
            per = nn.functional.cross_entropy(logits.flatten(0, 1), y.repeat(4), reduction="none")
            return {"loss": per.view(4, -1)}

    model = Stack()
    x, y = torch.randn(37, 5), torch.randint(0, 3, (37,))
    loss = BatchLoss(model, "fp32", "cpu", None, None)(x, y, 0)
    seeded = model.w.grad.clone()
    model.w.grad = None
    reference = model.objective(x, y)["loss"].mean(-1)
    reference.sum().backward()
    assert loss.shape == (4,) and torch.equal(loss, reference.detach())
    assert torch.equal(seeded, model.w.grad)

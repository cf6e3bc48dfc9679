"""The largest stable learning rate, by bisection on a log scale (claim C2).

Stability is assumed monotone: every learning rate below the threshold is stable, every one above
diverges. If it is not, the search still ends at a boundary between a stable and a diverging probe.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Probe:
    lr: float
    stable: bool
    note: str = ""


@dataclass(frozen=True)
class LrSearchResult:
    """``max_lr`` is the largest learning rate seen stable (0.0 if none was); the threshold lies
    in ``bracket = (stable lr, diverging lr)`` (upper end ``inf`` if no probe diverged).

    ``status``: "converged" (bracket ratio <= 1 + rel_tol), "max_probes" (budget spent first),
    "no_stable_lr" or "no_diverging_lr" (the expansion never found that side).
    """

    max_lr: float
    bracket: tuple[float, float]
    probes: tuple[Probe, ...]
    status: str


def _run_probe(
    probe: Callable[[float], object],
    lr: float,
    diverged_exceptions: tuple[type[BaseException], ...],
) -> Probe:
    try:
        result = probe(lr)
    except diverged_exceptions as err:
        return Probe(lr, False, f"raised {type(err).__name__}: {err}")
    if isinstance(result, (numbers.Real, Tensor)) and not isinstance(result, bool):
        value = float(result)
        if not math.isfinite(value):
            return Probe(lr, False, f"returned {value}")
        return Probe(lr, bool(value))
    return Probe(lr, bool(result))


def max_stable_lr(
    probe: Callable[[float], object],
    lo: float,
    hi: float,
    rel_tol: float = 0.01,
    max_probes: int = 40,
    *,
    expand: float = 10.0,
    diverged_exceptions: tuple[type[BaseException], ...] = (ArithmeticError,),
) -> LrSearchResult:
    """Find the largest ``lr`` with ``probe(lr)`` truthy ("did not diverge").

    A probe counts as diverged when it returns something falsy, returns a non-finite number, or
    raises one of ``diverged_exceptions`` (FloatingPointError is an ArithmeticError); other
    exceptions are bugs and propagate.

    Bracket expansion: probe ``lo``; while it diverges, divide it by ``expand``. Once a stable
    ``lo`` is known, probe ``hi`` (skipped if a diverging rate is already known); while it is
    stable, move ``lo`` up to it and multiply ``hi`` by ``expand``. Then bisect at the geometric
    mean until ``hi / lo <= 1 + rel_tol``. The threshold t is then in (lo, hi], so ``max_lr = lo``
    satisfies ``(t - max_lr) / t < rel_tol``. Every probe, expansion included, counts against
    ``max_probes``.
    """
    if not 0 < lo < hi:
        raise ValueError("need 0 < lo < hi")
    if rel_tol <= 0 or expand <= 1 or max_probes < 1:
        raise ValueError("need rel_tol > 0, expand > 1 and max_probes >= 1")
    probes: list[Probe] = []

    def stable(lr: float) -> bool:
        p = _run_probe(probe, lr, diverged_exceptions)
        probes.append(p)
        return p.stable

    good, bad = 0.0, math.inf
    lr = lo
    while len(probes) < max_probes:
        if stable(lr):
            good = lr
            break
        bad, lr = lr, lr / expand
    if good == 0.0:
        return LrSearchResult(0.0, (0.0, bad), tuple(probes), "no_stable_lr")
    lr = hi
    while bad == math.inf and len(probes) < max_probes:
        if not stable(lr):
            bad = lr
            break
        good, lr = lr, lr * expand
    if bad == math.inf:
        return LrSearchResult(good, (good, bad), tuple(probes), "no_diverging_lr")
    while bad / good > 1 + rel_tol and len(probes) < max_probes:
        mid = math.sqrt(good * bad)
        if stable(mid):
            good = mid
        else:
            bad = mid
    status = "converged" if bad / good <= 1 + rel_tol else "max_probes"
    return LrSearchResult(good, (good, bad), tuple(probes), status)


@dataclass(frozen=True)
class GdOutcome:
    diverged: bool
    steps: int  # steps taken before divergence was seen (all of them if it was not)
    initial_loss: float
    final_loss: float


class _Parameters(nn.Module):
    """Copies of ``params`` as a trainee of the one loop: its objective is ``loss_fn`` of them
    (the batch is a placeholder; the loss is already the full-batch loss)."""

    def __init__(self, loss_fn: Callable[[list[Tensor]], Tensor], params: Sequence[Tensor]):
        super().__init__()
        self.theta = nn.ParameterList([nn.Parameter(p.detach().clone()) for p in params])
        self.loss_fn = loss_fn

    def objective(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:  # noqa: ARG002
        return {"loss": self.loss_fn(list(self.theta)).reshape(1)}


def gd_diverges(
    loss_fn_of_params: Callable[[list[Tensor]], Tensor],
    params: Sequence[Tensor],
    lr: float,
    steps: int,
    blowup_factor: float = 10.0,
) -> GdOutcome:
    """Run ``steps`` steps of full-batch gradient descent from ``params`` (copied, never changed)
    and report divergence, checked before every step and after the last one.

    The steps are those of the one training loop (:func:`initlab.training.fit`, plain SGD at
    ``lr``), so is the divergence rule: the loss is non-finite or above ``blowup_factor`` times
    the initial loss (``task=lr_search`` probes use the same rule with ``task.diverge_factor``).
    """
    from initlab.training import Batches, fit

    if steps < 1:
        raise ValueError("need steps >= 1")
    model = _Parameters(loss_fn_of_params, params)
    placeholder = torch.zeros(1)
    result = fit(
        model,
        Batches(placeholder, placeholder, 1, seed=0, shuffle=False),
        torch.optim.SGD(model.parameters(), lr=lr),
        epochs=steps,
        log_every=max(min(steps, 50), 1),  # how often the loop looks (the step is exact)
        diverge_factor=blowup_factor,
        check_after_last=True,
        progress=f"gradient descent lr={lr:.4g}",
    )
    initial = result.first_loss[0]
    if result.status == "diverged":
        step, value = result.diverged_at_step[0], result.loss_at_divergence[0]
        return GdOutcome(True, step, initial, value)
    return GdOutcome(False, steps, initial, result.last_loss[0])

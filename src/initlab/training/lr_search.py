"""The largest stable learning rate, by bisection on a log scale (claim C2).

Stability is assumed monotone: every learning rate below the threshold is stable, every one above
diverges. If it is not, the search still ends at a boundary between a stable and a diverging probe.

Two criteria decide whether a run of gradient descent is stable (:data:`CRITERIA`):

* ``monotone`` (gradient descent's stability edge): the full-batch loss never rises from one step
  to the next by more than ``increase_tol`` relative to the step before (float rounding of the
  mean loss is ~1e-6 relative in float32), the loss after the last step is not above the initial
  one, and every loss is finite. On a quadratic with top Hessian eigenvalue lambda this is
  stable exactly for lr <= 2 / lambda (the top eigen-direction's error is multiplied by
  |1 - lr lambda| every step); on a network it compares directly with 2 / lambda_max.
* ``diverge`` (the older, looser rule): unstable only when the loss becomes non-finite or
  exceeds ``diverge_factor`` times the initial loss; a loss that rises and falls back (a
  "catapult" above 2 / lambda_max) counts as stable, so this edge can lie far above 2 / lambda_max.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from initlab.training.loop import Batches, fit


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


#: stability criteria of a gradient-descent probe (module docstring)
CRITERIA = ("monotone", "diverge")


@dataclass(frozen=True)
class GdOutcome:
    """One gradient-descent probe. ``diverged``: unstable by the probe's criterion; ``reason``:
    "" (stable), "increase" (a step raised the loss by more than the tolerance, or the final
    loss is above the initial one) or "blowup" (non-finite, or above the divergence factor);
    ``max_increase``: the largest relative rise of the loss between two consecutive steps seen
    (negative when it only fell)."""

    diverged: bool
    steps: int  # steps taken before instability was seen (all of them if it was not)
    initial_loss: float
    final_loss: float
    peak_loss: float = math.nan
    max_increase: float = math.nan
    reason: str = ""


def relative_increases(losses: Sequence[float]) -> list[float]:
    """``(l[t+1] - l[t]) / |l[t]|`` for consecutive losses (denominator floored at 1e-30)."""
    return [(b - a) / max(abs(a), 1e-30) for a, b in zip(losses[:-1], losses[1:], strict=True)]


def loss_rose(losses: Sequence[float], increase_tol: float) -> bool:
    """The ``monotone`` criterion's verdict on a loss sequence (initial first): True when some
    step raised the loss by more than ``increase_tol`` (relative), the last loss is above the
    first, or a loss is not finite."""
    if not all(math.isfinite(v) for v in losses):
        return True
    if len(losses) >= 2 and losses[-1] > losses[0]:
        return True
    return any(r > increase_tol for r in relative_increases(losses))


def run_gd(
    model: nn.Module,
    batches,
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    *,
    steps: int,
    criterion: str = "monotone",
    increase_tol: float = 1e-3,
    diverge_factor: float = 10.0,
    progress: str | None = None,
) -> GdOutcome:
    """``steps`` steps of the one training loop (:func:`initlab.training.fit`) on full batches
    (one batch per epoch), judged by ``criterion`` (:data:`CRITERIA`). The loss before every
    step and after the last one is recorded; with ``monotone`` the loop stops at the first rise
    beyond ``increase_tol``. Both criteria stop at a blow-up (``diverge_factor``)."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, not {criterion!r}")
    if getattr(batches, "per_epoch", 1) != 1:
        raise ValueError("run_gd needs full batches (one batch per epoch)")
    losses: list[float] = []
    rose = [False]

    def on_epoch_end(epoch: int, epoch_losses: Tensor, last: bool, step: int) -> bool | None:
        losses.append(float(epoch_losses))  # the loss before step `epoch`
        rising = len(losses) >= 2 and relative_increases(losses[-2:])[0] > increase_tol
        if criterion == "monotone" and rising:
            rose[0] = True
            return True
        return None

    result = fit(
        model,
        batches,
        optimizer,
        scheduler,
        epochs=steps,
        max_steps=steps,
        log_every=max(steps, 1),
        diverge_factor=diverge_factor,
        check_after_last=True,
        on_epoch_end=on_epoch_end,
        progress=progress,
    )
    first, peak = result.first_loss[0], result.peak_loss[0]
    if result.status == "diverged":
        step, value = result.diverged_at_step[0], result.loss_at_divergence[0]
        value = math.nan if value is None else value
        seq = [*losses, value]
        rises = relative_increases(seq)
        top = max((r for r in rises if math.isfinite(r)), default=math.nan)
        return GdOutcome(True, step, first, value, peak, top, "blowup")
    final = result.last_loss[0]
    seq = losses if rose[0] else [*losses, final]
    rises = relative_increases(seq)
    top = max(rises, default=math.nan)
    if rose[0]:
        return GdOutcome(True, len(losses) - 1, first, losses[-1], peak, top, "increase")
    if criterion == "monotone" and loss_rose(seq, increase_tol):
        return GdOutcome(True, steps, first, final, peak, top, "increase")
    return GdOutcome(False, steps, first, final, peak, top, "")


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
    *,
    criterion: str = "diverge",
    increase_tol: float = 1e-3,
) -> GdOutcome:
    """Run ``steps`` steps of full-batch gradient descent from ``params`` (copied, never changed)
    and report instability by ``criterion`` (:data:`CRITERIA`; default: the blow-up rule),
    checked before every step and after the last one.

    The steps are those of the one training loop (:func:`initlab.training.fit`, plain SGD at
    ``lr``, through :func:`run_gd`), so are the rules: ``diverge``: the loss is non-finite or
    above ``blowup_factor`` times the initial loss; ``monotone``: also any step raising the loss
    by more than ``increase_tol`` (``task=lr_search`` probes use the same function).
    """
    if steps < 1:
        raise ValueError("need steps >= 1")
    model = _Parameters(loss_fn_of_params, params)
    placeholder = torch.zeros(1)
    return run_gd(
        model,
        Batches(placeholder, placeholder, 1, seed=0, shuffle=False),
        torch.optim.SGD(model.parameters(), lr=lr),
        steps=steps,
        criterion=criterion,
        increase_tol=increase_tol,
        diverge_factor=blowup_factor,
        progress=f"gradient descent lr={lr:.4g}",
    )

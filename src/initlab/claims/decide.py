"""What a rule says when its scale cannot decide: how many replicates would, if the measured
mean and spread stayed as they are, and short interval texts for the one-line summaries; and the
equivalence test of a parity claim (:func:`tost`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from initlab.analysis.laws import LEVEL, Estimate, t_quantile
from initlab.claims.registry import SUMMARY_MAX

#: the most replicates a projection names (beyond it: "far more")
MAX_PROJECTED = 10_000


def short(estimate: Estimate, digits: int = 2) -> str:
    """``value [lo, hi]`` to ``digits`` significant digits (the summary line's form)."""
    return f"{estimate.value:.{digits}g} [{estimate.lo:.{digits}g}, {estimate.hi:.{digits}g}]"


def replicates_needed(mean: float, sd: float, level: float = LEVEL) -> int | None:
    """The smallest n >= 2 whose t interval ``mean +- t(n-1) sd / sqrt(n)`` excludes 0, were the
    mean and the spread over replicates what they are now (a projection, not a power analysis);
    None when the mean is 0 or the spread not finite, or beyond :data:`MAX_PROJECTED`."""
    if not (math.isfinite(mean) and math.isfinite(sd)) or mean == 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, MAX_PROJECTED + 1):
        if t_quantile(n - 1, level) * sd / math.sqrt(n) < abs(mean):
            return n
    return None


def replicates_needed_for(estimate: Estimate, n: int, level: float = LEVEL) -> int | None:
    """:func:`replicates_needed` from a t interval over ``n`` replicates (its half-width gives
    the spread back)."""
    if n < 2 or not (np.isfinite(estimate.lo) and np.isfinite(estimate.hi)):
        return None
    sd = (estimate.hi - estimate.lo) / 2 / t_quantile(n - 1, level) * math.sqrt(n)
    return replicates_needed(estimate.value, sd, level)


def replicates_to_place(
    estimate: Estimate, n: int, low: float, high: float, level: float = LEVEL
) -> int | None:
    """Replicates whose t interval would lie wholly inside [low, high] (the point estimate
    inside) or wholly outside it (outside), were the mean and spread over the ``n`` replicates
    what they are: :func:`replicates_needed` with the distance to the nearest bound as mean."""
    if n < 2 or not (np.isfinite(estimate.lo) and np.isfinite(estimate.hi)):
        return None
    value = estimate.value
    margin = min(abs(value - low), abs(high - value))
    sd = (estimate.hi - estimate.lo) / 2 / t_quantile(n - 1, level) * math.sqrt(n)
    return replicates_needed(margin, sd, level)


def needs_text(needed: int | None, what: str) -> str:
    """``needs >= N <what>`` (or that no number of them would, at this mean)."""
    if needed is None:
        return f"no number of {what} would decide at this mean"
    return f"needs >= {needed} {what}"


#: the outcomes of an equivalence test: shown within the margin; shown beyond it; neither
EQUIVALENT, DIFFERENT, UNDECIDED = "equivalent", "different", "undecided"


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests (TOST) that mean(a) - mean(b) lies within +-``margin``.

    ``lo``/``hi``: the ``1 - 2 alpha`` t interval of the difference (90% at alpha 0.05), which lies
    inside (-margin, margin) exactly when ``p`` < alpha. ``outcome``: :data:`EQUIVALENT` (p <
    alpha), :data:`DIFFERENT` (the interval lies wholly beyond one bound: ``lo`` > margin or
    ``hi`` < -margin), else :data:`UNDECIDED`, with ``needed``: the replicates per group whose
    interval would decide (inside or beyond), were the difference and both spreads what they
    are (None: the difference sits on a bound, or beyond :data:`MAX_PROJECTED`)."""

    diff: float
    lo: float
    hi: float
    p: float
    margin: float
    alpha: float
    n_a: int
    n_b: int
    dof: float
    outcome: str
    needed: int | None

    @property
    def level(self) -> float:
        """The interval's coverage, ``1 - 2 alpha``."""
        return 1.0 - 2.0 * self.alpha


def _welch(var_a: float, n_a: int, var_b: float, n_b: int) -> tuple[float, float]:
    """Welch's standard error of a difference of two means and its Welch-Satterthwaite degrees
    of freedom (with no spread at all: the smaller group's n - 1)."""
    parts = (var_a / n_a, var_b / n_b)
    se = math.sqrt(sum(parts))
    if se == 0:
        return 0.0, float(min(n_a, n_b) - 1)
    dof = sum(parts) ** 2 / (parts[0] ** 2 / (n_a - 1) + parts[1] ** 2 / (n_b - 1))
    return se, dof


def tost(a: Sequence[float], b: Sequence[float], margin: float, alpha: float = 0.05) -> Equivalence:
    """TOST for mean(a) - mean(b) within +-``margin`` with Welch's t (unequal variances):
    p = max(P[T > (d + margin) / se], P[T < (d - margin) / se]) on the Welch-Satterthwaite
    degrees of freedom. Each group needs >= 2 finite values; ``margin`` > 0."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if margin <= 0 or not math.isfinite(margin):
        raise ValueError(f"equivalence margin must be a positive number, not {margin!r}")
    if len(a) < 2 or len(b) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("TOST needs >= 2 finite values in each group")
    diff = float(a.mean() - b.mean())
    var_a, var_b = float(a.var(ddof=1)), float(b.var(ddof=1))
    se, dof = _welch(var_a, len(a), var_b, len(b))
    if se == 0:  # no spread: the difference is known exactly
        p = 0.0 if abs(diff) < margin else 1.0
        lo = hi = diff
    else:
        p_lower = float(stats.t.sf((diff + margin) / se, dof))  # H0: diff <= -margin
        p_upper = float(stats.t.cdf((diff - margin) / se, dof))  # H0: diff >= +margin
        p = max(p_lower, p_upper)
        half = float(stats.t.ppf(1.0 - alpha, dof)) * se
        lo, hi = diff - half, diff + half
    if p < alpha:
        outcome = EQUIVALENT
    elif lo > margin or hi < -margin:
        outcome = DIFFERENT
    else:
        outcome = UNDECIDED
    needed = None
    if outcome == UNDECIDED:
        needed = _replicates_to_decide(abs(abs(diff) - margin), var_a, var_b, alpha)
    return Equivalence(diff, lo, hi, p, margin, alpha, len(a), len(b), dof, outcome, needed)


def _replicates_to_decide(gap: float, var_a: float, var_b: float, alpha: float) -> int | None:
    """The smallest n per group (both groups n) whose ``1 - 2 alpha`` Welch half-width is below
    ``gap`` (the distance of the difference to the nearest margin bound)."""
    if gap <= 0 or not math.isfinite(gap):
        return None

    def decides(n: int) -> bool:
        se, dof = _welch(var_a, n, var_b, n)
        return se == 0 or float(stats.t.ppf(1.0 - alpha, dof)) * se < gap

    if not decides(MAX_PROJECTED):
        return None
    low, high = 1, MAX_PROJECTED  # the half-width falls with n: bisect (decides(high) holds)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if decides(mid) else (mid, high)
    return max(high, 2)


def fit_line(text: str) -> str:
    """``text`` if it fits the summary line, else with its middle "; "-parts dropped (the full
    text is in the paper's section), cut as a last resort."""
    if len(text) <= SUMMARY_MAX:
        return text
    parts = text.split("; ")
    while len(parts) > 2 and len("; ".join(parts)) > SUMMARY_MAX:
        del parts[-2]
    line = "; ".join(parts)
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 3] + "..."

"""What a rule says when its scale cannot decide: how many replicates would, if the measured
mean and spread stayed as they are, and short interval texts for the one-line summaries."""

from __future__ import annotations

import math

import numpy as np

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

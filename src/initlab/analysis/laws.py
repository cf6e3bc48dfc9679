"""Fit growth/decay laws to a positive curve y(x), all by least squares in log y.

| law         | model                    | free parameters         |
| ----------- | ------------------------ | ----------------------- |
| exponential | log y = a + b x          | a, b (rate)             |
| power       | log y = a + c log x      | a, c (exponent)         |
| reciprocal  | log y = a - log x        | a (y ~ e^a / x)         |
| sqrt        | log y = a + log(x) / 2   | a (y ~ e^a sqrt(x))     |
| constant    | log y = a                | a                       |

Fitting in log space makes every point count by its relative error, which suits curves spanning
decades. Fit quality: R^2 of log y (1 - SS_res / SS_tot; negative when worse than the mean) and the
RMSE of log y (a typical multiplicative error of exp(rmse)). Laws with fewer free parameters can
only tie or lose on RMSE against the free-exponent power law that contains them; compare them by
how close the free exponent is to theirs.

**Uncertainty.** Every fit carries the ordinary-least-squares standard error of each free parameter
(``stderr``) and its two-sided t interval at :data:`LEVEL` on the residual degrees of freedom
(``interval(name)``). Fit every replicate's point (all seeds at every depth), not their medians:
the errors of independent networks are then independent, the residual scatter includes the
seed-to-seed spread, and the interval has its nominal coverage when log y is the law plus
Gaussian noise. Where points are NOT independent (one network's angle at every layer), fit each
replicate's curve alone and combine the estimates with :func:`replicate_interval` (mean +- t
standard error over replicates).

**Comparing laws.** :func:`nested_choice` fits log y = a + r x + p log x, which contains both the
exponential (p = 0) and the power law (r = 0), and names the asymptotic class the data need:
"exponential" when r's interval excludes 0 (an exponential factor is needed, whatever power
prefactor comes with it: L^p e^(rL) is exponential growth), "power" when r's interval includes 0
and p's excludes it, else "undecided" (neither term is needed: a flat curve, or too few points).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

LAWS = ("exponential", "power", "reciprocal", "sqrt", "constant")
_FIXED_EXPONENT = {"reciprocal": -1.0, "sqrt": 0.5, "constant": 0.0}
#: confidence level of every interval
LEVEL = 0.95
#: how the intervals are computed, for the report
INTERVAL_METHOD = "95% t interval from the regression's standard error (every seed's point)"


def t_quantile(dof: int, level: float = LEVEL) -> float:
    """Two-sided t critical value (inf without degrees of freedom)."""
    return float(stats.t.ppf(0.5 + level / 2, dof)) if dof > 0 else float("inf")


def t_interval(estimate: float, stderr: float, dof: int, level: float = LEVEL) -> tuple:
    half = t_quantile(dof, level) * stderr
    return (estimate - half, estimate + half) if np.isfinite(half) else (-np.inf, np.inf)


@dataclass(frozen=True)
class LawFit:
    """``params``: "a" always (intercept of log y); "rate" for exponential; "exponent" for the
    power-type laws (fixed ones included). ``prefactor`` = exp(a)."""

    law: str
    params: dict[str, float]
    r2_log: float
    rmse_log: float
    n: int
    stderr: dict[str, float] = field(default_factory=dict)
    dof: int = 0

    def interval(self, name: str, level: float = LEVEL) -> tuple[float, float]:
        """t interval of a free parameter; a fixed exponent has the point interval."""
        if name not in self.stderr:
            return (self.params[name], self.params[name])
        return t_interval(self.params[name], self.stderr[name], self.dof, level)

    @property
    def free(self) -> str:
        """The name of the law's shape parameter ("rate" or "exponent")."""
        return "rate" if self.law == "exponential" else "exponent"

    def describe(self, digits: int = 3) -> str:
        """E.g. ``exponent 0.06 [-0.1, 0.22]`` (the interval only for a free parameter)."""
        name = self.free
        value = self.params[name]
        if name not in self.stderr:
            return f"{name} {value:.{digits}g} (fixed)"
        lo, hi = self.interval(name)
        return f"{name} {value:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"

    @property
    def prefactor(self) -> float:
        return float(np.exp(self.params["a"]))

    def predict(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.law == "exponential":
            return np.exp(self.params["a"] + self.params["rate"] * x)
        return np.exp(self.params["a"] + self.params["exponent"] * np.log(x))


def _check(x: ArrayLike, y: ArrayLike, needs_positive_x: bool) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError("need x and y of the same length, at least 2 points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    if np.any(y <= 0):
        raise ValueError("y must be > 0 to be fitted in log space")
    if needs_positive_x and np.any(x <= 0):
        raise ValueError("power-type laws need x > 0")
    return x, y


def _quality(
    law: str, params: dict[str, float], logy: np.ndarray, pred: np.ndarray, t: np.ndarray | None
) -> LawFit:
    """Fit quality and OLS standard errors; ``t`` is the regressor of a free slope (else None)."""
    resid = logy - pred
    ss_res = float(resid @ resid)
    ss_tot = float(((logy - logy.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else -np.inf)
    n = int(logy.size)
    dof = n - (2 if t is not None else 1)
    sigma2 = ss_res / dof if dof > 0 else np.inf
    if t is not None:
        sxx = float(((t - t.mean()) ** 2).sum())
        slope_se = float(np.sqrt(sigma2 / sxx)) if sxx > 0 else np.inf
        a_se = float(np.sqrt(sigma2 * (1.0 / n + t.mean() ** 2 / sxx))) if sxx > 0 else np.inf
        stderr = {"a": a_se, "rate" if law == "exponential" else "exponent": slope_se}
    else:
        stderr = {"a": float(np.sqrt(sigma2 / n))}
    return LawFit(law, params, r2, float(np.sqrt(ss_res / n)), n, stderr, max(dof, 0))


def fit_law(law: str, x: ArrayLike, y: ArrayLike) -> LawFit:
    """Fit one of :data:`LAWS` to the points (x, y), y > 0 (and x > 0 unless exponential)."""
    if law not in LAWS:
        raise ValueError(f"unknown law {law!r}; choose from {LAWS}")
    x, y = _check(x, y, needs_positive_x=law != "exponential")
    logy = np.log(y)
    if law in ("exponential", "power"):
        t = x if law == "exponential" else np.log(x)
        slope, a = np.polyfit(t, logy, 1)
        name = "rate" if law == "exponential" else "exponent"
        params = {"a": float(a), name: float(slope)}
        return _quality(law, params, logy, a + slope * t, t)
    c = _FIXED_EXPONENT[law]
    shift = c * np.log(x) if c != 0 else np.zeros_like(x)
    a = float((logy - shift).mean())
    return _quality(law, {"a": a, "exponent": c}, logy, a + shift, None)


def compare_laws(x: ArrayLike, y: ArrayLike, laws: Sequence[str] = LAWS) -> dict[str, LawFit]:
    """Fit every law and return them ordered best first by log-space RMSE (dict order is rank)."""
    fits = [fit_law(law, x, y) for law in laws]
    return {f.law: f for f in sorted(fits, key=lambda f: f.rmse_log)}


@dataclass(frozen=True)
class Estimate:
    """A parameter with its interval and how the interval was obtained."""

    value: float
    lo: float
    hi: float
    method: str = INTERVAL_METHOD

    def excludes(self, threshold: float) -> bool:
        return not (self.lo <= threshold <= self.hi)

    def below(self, threshold: float) -> bool:
        """The whole interval is below ``threshold``."""
        return self.hi < threshold

    def above(self, threshold: float) -> bool:
        return self.lo > threshold

    def within(self, low: float, high: float) -> bool:
        return low <= self.lo and self.hi <= high

    def text(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}g} [{self.lo:.{digits}g}, {self.hi:.{digits}g}]"


def fit_estimate(fit: LawFit, name: str | None = None, level: float = LEVEL) -> Estimate:
    """A fit's free parameter (or ``name``) as an :class:`Estimate`."""
    name = name or fit.free
    return Estimate(fit.params[name], *fit.interval(name, level))


@dataclass(frozen=True)
class NestedChoice:
    """:func:`nested_choice`: the chosen law, and the rate r and exponent p of the joint fit."""

    law: str  # "exponential", "power" or "undecided"
    rate: Estimate
    exponent: Estimate

    def text(self) -> str:
        return f"nested fit rate {self.rate.text()} & exponent {self.exponent.text()}: {self.law}"


def nested_choice(x: ArrayLike, y: ArrayLike, level: float = LEVEL) -> NestedChoice:
    """Exponential vs power law by the joint regression log y = a + r x + p log x (see module)."""
    x, y = _check(x, y, needs_positive_x=True)
    logy = np.log(y)
    design = np.column_stack([np.ones_like(x), x, np.log(x)])
    coef, *_ = np.linalg.lstsq(design, logy, rcond=None)
    resid = logy - design @ coef
    dof = x.size - 3
    sigma2 = float(resid @ resid) / dof if dof > 0 else np.inf
    gram = design.T @ design
    cov = sigma2 * np.linalg.pinv(gram) if np.linalg.matrix_rank(gram) == 3 else None
    estimates = []
    for i in (1, 2):
        if cov is None or not np.isfinite(sigma2):
            estimates.append(Estimate(float(coef[i]), -np.inf, np.inf, "nested regression"))
        else:
            lo, hi = t_interval(float(coef[i]), float(np.sqrt(cov[i, i])), dof, level)
            estimates.append(Estimate(float(coef[i]), lo, hi, "nested regression"))
    rate, exponent = estimates
    needs_rate, needs_exponent = rate.excludes(0.0), exponent.excludes(0.0)
    if needs_rate:
        law = "exponential"
    elif needs_exponent:
        law = "power"
    else:
        law = "undecided"
    return NestedChoice(law, rate, exponent)


def replicate_interval(
    values: ArrayLike, level: float = LEVEL, what: str = "replicates"
) -> Estimate:
    """Mean over replicate estimates (one per independent network) +- t standard error."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite replicate estimates")
    mean = float(values.mean())
    if values.size < 2:
        return Estimate(mean, -np.inf, np.inf, f"mean over 1 of {what} (no interval)")
    se = float(values.std(ddof=1) / np.sqrt(values.size))
    lo, hi = t_interval(mean, se, values.size - 1, level)
    return Estimate(mean, lo, hi, f"{level:.0%} t interval over {values.size} {what}")

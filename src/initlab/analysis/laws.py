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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

LAWS = ("exponential", "power", "reciprocal", "sqrt", "constant")
_FIXED_EXPONENT = {"reciprocal": -1.0, "sqrt": 0.5, "constant": 0.0}


@dataclass(frozen=True)
class LawFit:
    """``params``: "a" always (intercept of log y); "rate" for exponential; "exponent" for the
    power-type laws (fixed ones included). ``prefactor`` = exp(a)."""

    law: str
    params: dict[str, float]
    r2_log: float
    rmse_log: float
    n: int

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


def _quality(law: str, params: dict[str, float], logy: np.ndarray, pred: np.ndarray) -> LawFit:
    resid = logy - pred
    ss_res = float(resid @ resid)
    ss_tot = float(((logy - logy.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else -np.inf)
    return LawFit(law, params, r2, float(np.sqrt(ss_res / logy.size)), int(logy.size))


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
        return _quality(law, params, logy, a + slope * t)
    c = _FIXED_EXPONENT[law]
    shift = c * np.log(x) if c != 0 else np.zeros_like(x)
    a = float((logy - shift).mean())
    return _quality(law, {"a": a, "exponent": c}, logy, a + shift)


def compare_laws(x: ArrayLike, y: ArrayLike, laws: Sequence[str] = LAWS) -> dict[str, LawFit]:
    """Fit every law and return them ordered best first by log-space RMSE (dict order is rank)."""
    fits = [fit_law(law, x, y) for law in laws]
    return {f.law: f for f in sorted(fits, key=lambda f: f.rmse_log)}

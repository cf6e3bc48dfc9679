"""Verdict rules for A1-A3 (Fixup at initialization: the Hessian spectrum); A4 (learning rates)
is in :mod:`initlab.papers.fixup_hessian.claims_sweep`.

Inputs, collected under ``results/<profile>/`` (column ``arm``: ``resnet_he``, ``resnet_fixup``,
``resnet_bn``, ``resnet_bn_zero``, ``mlp_he``; see ``conf/arm/``):

* ``a1_a2_hessian_depth/summary.csv``: ``lambda_max`` per (arm, ``model.depth``, seed);
* ``a3_hessian_structure/summary.csv``: ``zero_block_fraction`` (blocks zero up to float64
  round-off, ``zero_threshold`` x max|H|) per (arm, seed).

Laws are fitted to every seed's point (not the medians; the networks of different seeds and
depths are independent): a power law (log y linear in log L) and an exponential (log y linear in
L), by least squares in log y, each parameter with its 95% t interval from the regression's
standard error (:mod:`initlab.analysis.laws`). Which law holds is decided by the nested fit
log y = a + r L + p log L (:func:`initlab.analysis.laws.nested_choice`): "exponential" when r's
interval excludes 0, "power" when only p's does, else "undecided" (A2 reads it; A1 reads the power
exponent over all depths and over the deep half, see :func:`a1_fixup_sqrt`). The figure's bands
are the fits' 95% confidence bands (:func:`law_band`). A threshold on an exponent or
a rate holds only when the whole interval is on its side; a claim is contradicted only when the
whole interval is on the other side, and inconclusive when the interval straddles it (the
verdict then says what would decide).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from initlab.analysis.laws import (
    Estimate,
    LawFit,
    NestedChoice,
    compare_laws,
    fit_estimate,
    nested_choice,
    t_quantile,
)
from initlab.claims.decide import fit_line, short
from initlab.claims.registry import (
    CONTRADICTED,
    INCONCLUSIVE,
    PARTLY,
    REPRODUCED,
    NotRun,
    Verdict,
    evaluator,
    read_table,
)
from initlab.columns import ARM, DEPTH, SEED

DEPTH_EXP = "a1_a2_hessian_depth"
STRUCTURE_EXP = "a3_hessian_structure"
DEPTH_FIGURE = f"{DEPTH_EXP}/lambda_max_vs_depth.png"
STRUCTURE_FIGURE = f"{STRUCTURE_EXP}/hessian_heatmaps.png"
#: fewest depths a law fit is read from
MIN_DEPTHS = 3
#: A1's bound: the sqrt law's exponent
SQRT_EXPONENT = 0.5


def read_summary(results_dir: Path, experiment: str, completed: bool = True) -> pd.DataFrame:
    """The experiment's collected summary (only completed runs unless ``completed=False``)."""
    return read_table(results_dir, experiment, "summary", completed)


def depth_curve(frame: pd.DataFrame, arm: str, column: str) -> pd.Series:
    """Median over seeds of ``column`` at each depth of ``arm`` (index: depth, ascending)."""
    rows = frame[(frame[ARM] == arm) & frame[column].notna()]
    if rows.empty:
        raise NotRun(f"no {column} for arm {arm}")
    return rows.groupby(DEPTH)[column].median().sort_index(kind="stable")


def depth_points(frame: pd.DataFrame, arm: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Every seed's (depth, value) of ``arm`` with value > 0 (the points the laws are fitted to)."""
    rows = frame[(frame[ARM] == arm) & frame[column].notna() & (frame[column] > 0)]
    if rows.empty:
        raise NotRun(f"no positive {column} for arm {arm}")
    return rows[DEPTH].to_numpy(float), rows[column].to_numpy(float)


@dataclass(frozen=True)
class DepthFits:
    """Both laws fitted to every point of one arm, and the nested choice between them."""

    power: LawFit
    exponential: LawFit
    choice: NestedChoice

    @property
    def law(self) -> str:
        return self.choice.law

    @property
    def exponent(self) -> Estimate:
        return fit_estimate(self.power)

    @property
    def rate(self) -> Estimate:
        return fit_estimate(self.exponential)


def fit_points(x: np.ndarray, y: np.ndarray) -> DepthFits:
    fits = compare_laws(x, y, ("power", "exponential"))
    return DepthFits(fits["power"], fits["exponential"], nested_choice(x, y))


def fit_arm(frame: pd.DataFrame, arm: str, column: str) -> DepthFits:
    return fit_points(*depth_points(frame, arm, column))


def describe_fits(fits: DepthFits) -> str:
    p, e = fits.power, fits.exponential
    return (
        f"power exponent {fits.exponent.text(2)} (R2 {p.r2_log:.3f}), exp rate "
        f"{fits.rate.text(2)}/block (R2 {e.r2_log:.3f}); law: {fits.law} (nested fit: rate "
        f"{fits.choice.rate.text(2)}, exponent {fits.choice.exponent.text(2)}; 95% intervals)"
    )


#: the laws :func:`law_band` fits: sqrt (log y = a + log(L)/2, the reference A1 names, its
#: prefactor fitted), power, exponential and the nested L^p e^(rL)
BAND_LAWS = ("sqrt", "power", "exponential", "nested")


@dataclass(frozen=True)
class LawBand:
    """A law fitted by least squares in log y to every seed's point, with the 95% confidence
    band of its mean log y at ``grid`` (the regression's t interval, :data:`LEVEL`)."""

    law: str
    grid: np.ndarray
    center: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rmse_log: float
    #: residual log y at every fitted point (x, log y - fit), for the misfit text
    residuals: pd.Series

    def worst_misfit(self, depths: list[float]) -> float:
        """Largest factor between the median point and the fit at ``depths`` (1 = on the law)."""
        part = self.residuals[self.residuals.index.isin(depths)]
        if part.empty:
            return float("nan")
        return float(np.exp(part.groupby(level=0).median().abs().max()))


def _design(law: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regressors (with the intercept) and the fixed offset of log y for ``law``."""
    one = np.ones_like(x)
    if law == "sqrt":
        return one[:, None], 0.5 * np.log(x)
    if law == "power":
        return np.column_stack([one, np.log(x)]), np.zeros_like(x)
    if law == "exponential":
        return np.column_stack([one, x]), np.zeros_like(x)
    if law == "nested":
        return np.column_stack([one, x, np.log(x)]), np.zeros_like(x)
    raise ValueError(f"unknown law {law!r}; choose from {BAND_LAWS}")


def law_band(law: str, x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> LawBand:
    """Least squares of log y on ``law``'s regressors (every point counts once) and the 95%
    confidence band of the fitted mean at ``grid``: center +- t(n - k) se(x) in log y, with
    se(x)^2 = s^2 g(x)^T (X^T X)^-1 g(x). A pure function: the figure's bands come from it."""
    x, y, grid = (np.asarray(v, dtype=float) for v in (x, y, grid))
    if np.any(y <= 0) or np.any(x <= 0):
        raise ValueError("laws are fitted in log y to x, y > 0")
    design, offset = _design(law, x)
    logy = np.log(y) - offset
    coef, *_ = np.linalg.lstsq(design, logy, rcond=None)
    resid = logy - design @ coef
    dof = x.size - design.shape[1]
    sigma2 = float(resid @ resid) / dof if dof > 0 else np.inf
    g, g_offset = _design(law, grid)
    center = g @ coef + g_offset
    if np.isfinite(sigma2) and np.linalg.matrix_rank(design) == design.shape[1]:
        cov = sigma2 * np.linalg.inv(design.T @ design)
        half = t_quantile(dof) * np.sqrt(np.einsum("ij,jk,ik->i", g, cov, g))
    else:
        half = np.full_like(center, np.inf)
    residuals = pd.Series(resid, index=x)
    rmse = float(np.sqrt(resid @ resid / x.size))
    return LawBand(
        law, grid, np.exp(center), np.exp(center - half), np.exp(center + half), rmse, residuals
    )


def scale_of(results_dir: Path, frame: pd.DataFrame, what: str) -> str:
    depths = sorted(frame[DEPTH].unique()) if DEPTH in frame else []
    seeds = frame[SEED].nunique() if SEED in frame else 1
    span = f", L = {int(depths[0])}..{int(depths[-1])}" if depths else ""
    return f"{what}{span}, {seeds} seed(s)"


def too_few_depths(curve: pd.Series) -> bool:
    return len(curve) < MIN_DEPTHS


def short_scale(frame: pd.DataFrame) -> str:
    """``L=1..32, 2 seeds`` (the summary line's scale)."""
    depths = sorted(frame[DEPTH].unique()) if DEPTH in frame else []
    seeds = frame[SEED].nunique() if SEED in frame else 1
    span = f"L={int(depths[0])}..{int(depths[-1])}, " if depths else ""
    return f"{span}{seeds} seed(s)"


def too_few_depths_verdict(curve: pd.Series, scale: str, figure: str) -> Verdict:
    """Measured at fewer depths than a law fit needs: this scale cannot decide."""
    text = f"{len(curve)} depth(s): a law fit needs >= {MIN_DEPTHS} depths"
    return Verdict(INCONCLUSIVE, text, scale, figure, summary=text)


#: what would falsify A1, stated in its verdict
A1_FALSIFIED_BY = (
    "falsified by: a power exponent (all depths, or the deep half) whose 95% interval lies "
    "wholly above 1/2 (an exponential factor e^(rL) shows there as a local exponent rL)"
)


def deep_half(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows at the deep half of the depth range on a log scale: L >= sqrt(L_min L_max).
    Where a growth law's asymptotic exponent shows (an offset that flattens the shallow end
    no longer does)."""
    depths = frame[DEPTH].astype(float)
    middle = float(np.sqrt(depths.min() * depths.max()))
    return frame[depths >= middle]


@evaluator("A1", experiment=DEPTH_EXP)
def a1_fixup_sqrt(results_dir: Path, profile: str) -> Verdict:
    """Fixup's lambda_max(L): the power exponent p over all depths and p_deep over the deep half
    (:func:`deep_half`), each with its 95% interval:

    - reproduced: both intervals lie at or below 1/2 (sqrt at most);
    - partly: both lie at or below 1 (at most linear), sqrt not shown;
    - contradicted (what falsifies the claim, :data:`A1_FALSIFIED_BY`): either interval lies
      wholly above 1/2;
    - inconclusive: otherwise (an interval straddles 1/2: more depths or seeds would decide),
      or fewer than :data:`MIN_DEPTHS` depths (in all, or in the deep half).

    The nested fit log y = a + rL + p log L is reported, not used: a curve c0 + c1 sqrt(L) (an
    offset plus the claimed law) is convex in log-log, and the nested fit reads that convexity as
    a small positive rate r, although its exponent never exceeds 1/2.
    """
    frame = read_summary(results_dir, DEPTH_EXP)
    curve = depth_curve(frame, "resnet_fixup", "lambda_max")
    scale = scale_of(results_dir, frame, "Fixup residual nets")
    rows = frame[frame[ARM] == "resnet_fixup"]
    deep = deep_half(rows[rows["lambda_max"].notna()])
    if too_few_depths(curve) or deep[DEPTH].nunique() < MIN_DEPTHS:
        return too_few_depths_verdict(curve, scale, DEPTH_FIGURE)
    fits = fit_arm(frame, "resnet_fixup", "lambda_max")
    deep_fits = fit_arm(deep, "resnet_fixup", "lambda_max")
    exponent, deep_exponent = fits.exponent, deep_fits.exponent
    both = (exponent, deep_exponent)
    faster = any(e.above(SQRT_EXPONENT) for e in both)
    if all(e.hi <= SQRT_EXPONENT for e in both):
        status, found = REPRODUCED, "at most sqrt(L)"
    elif faster:
        status, found = CONTRADICTED, "faster than sqrt(L)"
    elif all(e.hi <= 1.0 for e in both):
        status, found = PARTLY, "at most linear, sqrt not shown"
    else:
        status, found = INCONCLUSIVE, "interval straddles 1/2: more depths/seeds decide"
    x, y = depth_points(frame, "resnet_fixup", "lambda_max")
    sqrt_rmse = law_band("sqrt", x, y, x[:1]).rmse_log
    start = int(deep[DEPTH].min())
    summary = (
        f"power exponent {short(exponent)}, L>={start}: {short(deep_exponent)} (sqrt: 0.5): "
        f"{found}; {short_scale(frame)}"
    )
    measured = (
        f"Fixup lambda_max {curve.iloc[0]:.3g} (L={curve.index[0]}) -> {curve.iloc[-1]:.3g} "
        f"(L={curve.index[-1]}); {describe_fits(fits)}; deep half (L >= {start}): power "
        f"exponent {deep_exponent.text(2)}; sqrt law with a fitted prefactor: RMSE of log y "
        f"{sqrt_rmse:.3f} against the free power law's {fits.power.rmse_log:.3f}; "
        f"{A1_FALSIFIED_BY}; so falsified: {'yes' if faster else 'no'}"
    )
    return Verdict(status, measured, scale, DEPTH_FIGURE, summary=fit_line(summary))


def small_depths(frame: pd.DataFrame, count: int = 2) -> list[float]:
    """The ``count`` smallest depths measured (where an exponential through the deep end is
    furthest from a curve that starts with a power-law regime)."""
    return sorted(float(d) for d in frame[DEPTH].unique())[:count]


@evaluator("A2", experiment=DEPTH_EXP)
def a2_he_exponential(results_dir: Path, profile: str) -> Verdict:
    """He's lambda_max(L): the exponential fit's rate, the power exponent, the nested choice:

    - reproduced: the nested fit needs the exponential and the rate's 95% interval is above 0;
    - partly: the rate's interval is above 0 and the power exponent's above 1/2 (faster than
      sqrt) but the nested fit does not need the exponential;
    - contradicted: lambda_max does not grow exponentially: the rate's interval lies at or below
      0, or the nested fit finds a power law (its exponent needed, no exponential factor);
    - inconclusive: otherwise (the nested fit cannot tell the laws apart: more depths decide),
      or fewer than :data:`MIN_DEPTHS` depths.

    The pure exponential is fitted to every depth; its misfit at the two smallest depths (the
    factor between the median point and the law) is reported, beside the nested law
    L^p e^(rL), which carries the small-depth power regime and is what decides.
    """
    frame = read_summary(results_dir, DEPTH_EXP)
    curve = depth_curve(frame, "resnet_he", "lambda_max")
    scale = scale_of(results_dir, frame, "He residual nets (no normalization)")
    if too_few_depths(curve):
        return too_few_depths_verdict(curve, scale, DEPTH_FIGURE)
    fits = fit_arm(frame, "resnet_he", "lambda_max")
    rate = fits.choice.rate.value if fits.law == "exponential" else fits.rate.value
    if fits.law == "exponential" and fits.choice.rate.above(0.0):
        status, found = REPRODUCED, f"exponential, rate {short(fits.choice.rate)}/block (nested)"
    elif fits.rate.above(0.0) and fits.exponent.above(SQRT_EXPONENT):
        status, found = PARTLY, f"grows, exp rate {short(fits.rate)}, laws not told apart"
    elif fits.rate.hi <= 0.0:
        status, found = CONTRADICTED, f"no growth: exp rate {short(fits.rate)}/block"
    elif fits.law == "power":
        status, found = CONTRADICTED, f"power law, exponent {short(fits.choice.exponent)}"
    else:
        status, found = INCONCLUSIVE, "laws not told apart: more depths decide"
    x, y = depth_points(frame, "resnet_he", "lambda_max")
    small = small_depths(frame)
    misfit = {
        law: law_band(law, x, y, x[:1]).worst_misfit(small) for law in ("exponential", "nested")
    }
    at = ", ".join(f"{d:g}" for d in small)
    summary = f"{found}; x{np.exp(rate):.2f}/block; {short_scale(frame)}"
    measured = (
        f"He lambda_max {curve.iloc[0]:.3g} (L={curve.index[0]}) -> {curve.iloc[-1]:.3g} "
        f"(L={curve.index[-1]}), x{np.exp(rate):.2f} per block; {describe_fits(fits)}; misfit "
        f"at L = {at} (median point / law): pure exponential x{misfit['exponential']:.2f}, "
        f"nested L^p e^(rL) x{misfit['nested']:.2f}"
    )
    return Verdict(status, measured, scale, DEPTH_FIGURE, summary=fit_line(summary))


def structure_frame(frame: pd.DataFrame, arm: str) -> pd.DataFrame:
    rows = frame[frame[ARM] == arm]
    if rows.empty:
        raise NotRun(f"no hessian_structure run for arm {arm}")
    return rows.sort_values(SEED, kind="stable") if SEED in rows else rows


def zero_fraction(frame: pd.DataFrame, arm: str) -> float:
    return float(structure_frame(frame, arm)["zero_block_fraction"].mean())


def near_roundoff(rows: pd.DataFrame) -> bool:
    """A block counted non-zero whose relative size is within sqrt of the round-off threshold
    (half the digits lost to cancellation): this precision cannot tell it from 0."""
    if "smallest_nonzero_rel" not in rows or "zero_threshold" not in rows:
        return False
    small = rows["smallest_nonzero_rel"].to_numpy(float)
    bound = np.sqrt(rows["zero_threshold"].to_numpy(float))
    return bool(np.any(np.isfinite(small) & (small <= bound)))


def _fractions(rows: pd.DataFrame, column: str) -> str:
    return "/".join(f"{v:.3f}" for v in rows[column])


@evaluator("A3", experiment=STRUCTURE_EXP)
def a3_sparse_blocks(results_dir: Path, profile: str) -> Verdict:
    """Zero blocks of the dense Hessian, counted per seed: a parameter-tensor block is zero when
    its largest |entry| is at most ``zero_threshold`` x max|H| (the float64 round-off bound of
    the task, :func:`initlab.analysis.dense.roundoff_threshold`); the networks of one seed share
    nothing with another's, so each seed is a replicate:

    - reproduced: in every seed most blocks of Fixup's Hessian are zero (fraction > 1/2) and
      more than under He;
    - partly: in every seed Fixup has more zero blocks than He, but not most in every seed;
    - contradicted: in every seed Fixup has no more zero blocks than He;
    - inconclusive: the seeds disagree, or a block of Fixup or He counted non-zero lies within
      sqrt(threshold) x max|H| (:func:`near_roundoff`: more precision decides).
    """
    frame = read_summary(results_dir, STRUCTURE_EXP)
    fixup, he = structure_frame(frame, "resnet_fixup"), structure_frame(frame, "resnet_he")
    f, h = fixup["zero_block_fraction"].to_numpy(float), he["zero_block_fraction"].to_numpy(float)
    n = min(f.size, h.size)
    f, h = f[:n], h[:n]
    ambiguous = near_roundoff(fixup) or near_roundoff(he)
    if ambiguous:
        status, found = INCONCLUSIVE, "a block within sqrt(threshold) of 0: more precision decides"
    elif np.all((f > 0.5) & (f > h)):
        status, found = REPRODUCED, "most blocks zero"
    elif np.all(f > h):
        status, found = PARTLY, "more zero blocks than He, not most"
    elif np.all(f <= h):
        status, found = CONTRADICTED, "no more zero blocks than He"
    else:
        status, found = INCONCLUSIVE, "seeds disagree: more seeds decide"
    extra = ""
    for arm in ("resnet_bn", "resnet_bn_zero"):
        if (frame[ARM] == arm).any():
            rows = structure_frame(frame, arm)
            extra += f"; {arm} {_fractions(rows, 'zero_block_fraction')}"
            if "exact_zero_block_fraction" in rows:
                extra += f" (exactly 0: {_fractions(rows, 'exact_zero_block_fraction')})"
    params = fixup["params"].iloc[0]
    threshold = ""
    if "zero_threshold" in frame:
        eps = float(frame["zero_threshold"].max())
        gap = ""
        if "largest_zero_rel" in frame and "smallest_nonzero_rel" in frame:
            gap = (
                f"; every arm: largest block counted zero {frame['largest_zero_rel'].max():.2g}"
                f" x max|H|, smallest counted non-zero "
                f"{frame['smallest_nonzero_rel'].min():.2g} x max|H|"
            )
        threshold = (
            f"zero = block max <= {eps:.2g} x max|H| (float64 round-off bound gamma_k, k = "
            f"examples x parameters){gap}; "
        )
    seeds = n
    measured = (
        f"{threshold}zero-block fraction per seed: Fixup {_fractions(fixup, 'zero_block_fraction')}"
        f", He {_fractions(he, 'zero_block_fraction')}{extra} ({params} parameters, {seeds} "
        f"seed(s)): {found}"
    )
    summary = (
        f"zero blocks (<= round-off x max|H|): Fixup {f.mean():.3f} vs He {h.mean():.3f}: "
        f"{found}; {seeds} seed(s), {params} params"
    )
    scale = f"dense float64 Hessian at init, {params} parameters, {seeds} seed(s)"
    return Verdict(status, measured, scale, STRUCTURE_FIGURE, summary=fit_line(summary))

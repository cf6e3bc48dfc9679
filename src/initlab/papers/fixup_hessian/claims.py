"""Verdict rules for A1-A4 (Fixup at initialization: the Hessian spectrum and learning rates).

Inputs, collected under ``results/<profile>/`` (column ``arm``: ``resnet_he``, ``resnet_fixup``,
``resnet_bn``, ``resnet_bn_zero``, ``mlp_he``; see ``conf/arm/``):

* ``a1_a2_hessian_depth/summary.csv``: ``lambda_max`` per (arm, ``model.depth``, seed);
* ``a3_hessian_structure/summary.csv``: ``zero_block_fraction`` per arm;
* ``a4_lr_sweep/summary.csv``: ``test_accuracy`` and ``status`` per (arm, ``optim.lr``).

Laws are fitted to every seed's point (not the medians; the networks of different seeds and
depths are independent): a power law (log y linear in log L) and an exponential (log y linear in
L), by least squares in log y, each parameter with its 95% t interval from the regression's
standard error (:mod:`initlab.analysis.laws`). Which law holds is decided by the nested fit
log y = a + r L + p log L (:func:`initlab.analysis.laws.nested_choice`): "exponential" when r's
interval excludes 0, "power" when only p's does, else "undecided". A threshold on an exponent or
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


@evaluator("A1", experiment=DEPTH_EXP)
def a1_fixup_sqrt(results_dir: Path, profile: str) -> Verdict:
    """Fixup's lambda_max(L), power exponent p with its 95% interval, nested fit's rate r:

    - reproduced: p's interval lies at or below 1/2 (sqrt at most);
    - partly: p's interval lies at or below 1 (at most linear) and the exponential is not needed;
    - contradicted: growth faster than sqrt: p's interval lies above 1/2, or the nested fit needs
      an exponential with a rate whose interval is above 0;
    - inconclusive: otherwise (p's interval straddles 1/2: more depths or seeds would decide),
      or fewer than :data:`MIN_DEPTHS` depths.
    """
    frame = read_summary(results_dir, DEPTH_EXP)
    curve = depth_curve(frame, "resnet_fixup", "lambda_max")
    scale = scale_of(results_dir, frame, "Fixup residual nets")
    if too_few_depths(curve):
        return too_few_depths_verdict(curve, scale, DEPTH_FIGURE)
    fits = fit_arm(frame, "resnet_fixup", "lambda_max")
    exponent = fits.exponent
    faster = exponent.above(SQRT_EXPONENT) or (
        fits.law == "exponential" and fits.choice.rate.above(0.0)
    )
    if exponent.hi <= SQRT_EXPONENT:
        status, found = REPRODUCED, "at most sqrt(L)"
    elif exponent.hi <= 1.0 and fits.law != "exponential":
        status, found = PARTLY, "at most linear, sqrt not shown"
    elif faster:
        status, found = CONTRADICTED, "faster than sqrt(L)"
    else:
        status, found = INCONCLUSIVE, "interval straddles 1/2: more depths/seeds decide"
    summary = f"power exponent {short(exponent)}: {found}; law {fits.law}; {short_scale(frame)}"
    measured = (
        f"Fixup lambda_max {curve.iloc[0]:.3g} (L={curve.index[0]}) -> {curve.iloc[-1]:.3g} "
        f"(L={curve.index[-1]}); {describe_fits(fits)}; sqrt at most needs the exponent's "
        f"upper bound <= {SQRT_EXPONENT}: {exponent.hi <= SQRT_EXPONENT}"
    )
    return Verdict(status, measured, scale, DEPTH_FIGURE, summary=fit_line(summary))


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
    """
    frame = read_summary(results_dir, DEPTH_EXP)
    curve = depth_curve(frame, "resnet_he", "lambda_max")
    scale = scale_of(results_dir, frame, "He residual nets (no normalization)")
    if too_few_depths(curve):
        return too_few_depths_verdict(curve, scale, DEPTH_FIGURE)
    fits = fit_arm(frame, "resnet_he", "lambda_max")
    rate = fits.rate.value
    if fits.law == "exponential" and fits.rate.above(0.0):
        status, found = REPRODUCED, f"exponential, rate {short(fits.choice.rate)}/block (nested)"
    elif fits.rate.above(0.0) and fits.exponent.above(SQRT_EXPONENT):
        status, found = PARTLY, f"grows, exp rate {short(fits.rate)}, laws not told apart"
    elif fits.rate.hi <= 0.0:
        status, found = CONTRADICTED, f"no growth: exp rate {short(fits.rate)}/block"
    elif fits.law == "power":
        status, found = CONTRADICTED, f"power law, exponent {short(fits.choice.exponent)}"
    else:
        status, found = INCONCLUSIVE, "laws not told apart: more depths decide"
    summary = f"{found}; x{np.exp(rate):.2f}/block; {short_scale(frame)}"
    measured = (
        f"He lambda_max {curve.iloc[0]:.3g} (L={curve.index[0]}) -> {curve.iloc[-1]:.3g} "
        f"(L={curve.index[-1]}), x{np.exp(rate):.2f} per block; {describe_fits(fits)}"
    )
    return Verdict(status, measured, scale, DEPTH_FIGURE, summary=fit_line(summary))


def zero_fraction(frame: pd.DataFrame, arm: str) -> float:
    rows = frame[frame[ARM] == arm]
    if rows.empty:
        raise NotRun(f"no hessian_structure run for arm {arm}")
    return float(rows["zero_block_fraction"].mean())


@evaluator("A3", experiment=STRUCTURE_EXP)
def a3_sparse_blocks(results_dir: Path, profile: str) -> Verdict:
    """Counted exactly on the dense Hessian (no interval, so never inconclusive):

    - reproduced: most parameter-tensor blocks of Fixup's Hessian are exactly zero (fraction
      > 1/2) and more than under He;
    - partly: Fixup has more zero blocks than He, but not most;
    - contradicted: Fixup has no more zero blocks than He.
    """
    frame = read_summary(results_dir, STRUCTURE_EXP)
    fixup, he = zero_fraction(frame, "resnet_fixup"), zero_fraction(frame, "resnet_he")
    extra = ""
    for arm in ("resnet_bn", "resnet_bn_zero"):
        if (frame[ARM] == arm).any():
            extra += f", {arm} {zero_fraction(frame, arm):.3f}"
    if fixup > 0.5 and fixup > he:
        status = REPRODUCED
    elif fixup > he:
        status = PARTLY
    else:
        status = CONTRADICTED
    params = frame[frame[ARM] == "resnet_fixup"]["params"].iloc[0]
    measured = f"zero-block fraction: Fixup {fixup:.3f}, He {he:.3f}{extra} ({params} parameters)"
    summary = (
        f"exactly-zero Hessian blocks: Fixup {fixup:.3f} vs He {he:.3f} (exact count); "
        f"dense Hessian, {params} parameters"
    )
    return Verdict(
        status, measured, "dense Hessian at init", STRUCTURE_FIGURE, summary=fit_line(summary)
    )

"""Verdict rules for C1-C3 (depth and the largest usable learning rate; Fisher spectrum).

Inputs, collected under ``results/<profile>/`` (column ``arm``, see ``conf/arm/``):

* ``c2_max_lr_depth/summary.csv``: ``max_lr`` per (arm, ``model.depth``, seed) from
  ``task=lr_search`` with ``criterion`` (monotone: gradient descent's stability edge, see
  :mod:`initlab.training.lr_search`), and from the same run ``lambda_max`` of the loss Hessian at
  the same init on the same examples and ``edge_ratio = max_lr * lambda_max / 2``;
* ``c3_fisher_depth/summary.csv``: ``lambda_max`` per (arm, depth, seed, ``matrix``):
  ``fisher_gauss`` (the Gaussian-output Fisher J^T J of the logits: C3's own object, the one
  graded) and ``fisher_true`` (the softmax model's Fisher, shown beside it).

Curves and fits as in :mod:`initlab.papers.fixup_hessian.claims`: both laws fitted to every
seed's point with 95% t intervals from the regression's standard error, the law chosen by the
nested fit (exponential when its rate is needed, power when only the exponent is, else
undecided), thresholds held only by the whole interval. Each part of a claim is a
:class:`initlab.claims.Check`: it holds, the data decide against it (the whole interval on the
other side, or the other law found), or it stays open; none holding gives contradicted when one
is against, else inconclusive.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims.decide import fit_line, short
from initlab.claims.registry import (
    CONTRADICTED,
    INCONCLUSIVE,
    PARTLY,
    Check,
    Verdict,
    evaluator,
    grade,
)
from initlab.columns import ARM, DEPTH
from initlab.papers.angles.claims import (
    ANGLES_EXP,
    ARCH_FIGURE,
    _b3,
    _fit_line,
    _fits,
    _scale,
    _scale_norm,
    _short_scale,
    b1_check,
    laws_count,
)
from initlab.papers.fixup_hessian.claims import (
    DepthFits,
    depth_curve,
    describe_fits,
    fit_arm,
    read_summary,
    scale_of,
    short_scale,
    too_few_depths,
)

LR_EXP = "c2_max_lr_depth"
FISHER_EXP = "c3_fisher_depth"
LR_FIGURE = f"{LR_EXP}/max_lr_vs_depth.png"
FISHER_FIGURE = f"{FISHER_EXP}/fisher_vs_depth.png"
#: C2's stability criterion the rule grades (``task.criterion``)
EDGE_CRITERION = "monotone"
#: C2 (BN): "about 1/L" holds when the power exponent's interval lies within -1 +- this
RECIPROCAL_HALF_WIDTH = 0.5
#: C3 (MLP): "independent of depth" holds when the power exponent's interval lies within +- this
FLAT_HALF_WIDTH = 0.5
#: C3: the Fisher that decides (the claim's object) and the one shown beside it
GRADED_FISHER = "fisher_gauss"
SIDE_FISHERS = ("fisher_true", "fisher_empirical")
FISHER_NAMES = {
    "fisher_gauss": "Gaussian-output Fisher (J^T J)",
    "fisher_true": "cross-entropy Fisher",
    "fisher_empirical": "empirical Fisher",
}


def edge_ratios(frame: pd.DataFrame) -> pd.Series:
    """``max_lr * lambda_max / 2`` of every run (the ``edge_ratio`` column, else computed from
    ``max_lr`` and ``lambda_max``; NaN where lambda_max is missing or not > 0)."""
    if "edge_ratio" in frame:
        return pd.to_numeric(frame["edge_ratio"], errors="coerce")
    if "lambda_max" not in frame:
        return pd.Series(np.nan, index=frame.index)
    lam = pd.to_numeric(frame["lambda_max"], errors="coerce")
    return (frame["max_lr"] * lam / 2).where(lam > 0)


def edge_ratio_text(frame: pd.DataFrame, arm: str) -> str:
    """``max_lr*lambda_max/2 = lo..hi (median m)`` over the depths of ``arm`` (each depth's
    median over seeds), '' when not measured."""
    rows = frame[frame[ARM] == arm].assign(_ratio=edge_ratios(frame[frame[ARM] == arm]))
    rows = rows[rows["_ratio"].notna() & (rows["_ratio"] > 0)]
    if rows.empty:
        return ""
    per_depth = rows.groupby(DEPTH)["_ratio"].median().sort_index(kind="stable")
    return (
        f"max_lr*lambda_max/2 = {per_depth.min():.2g}..{per_depth.max():.2g} over L "
        f"(median {float(np.median(rows['_ratio'])):.2g})"
    )


def edge_law_text(frame: pd.DataFrame) -> str:
    """The laws of 2 / lambda_max (``edge_lr``, same runs) for He and BN, as max_lr's are fitted:
    the quadratic model's prediction of C2, beside the measured edge; '' if not measured."""
    if "edge_lr" not in frame:
        return ""
    parts = []
    for arm, tag in (("resnet_he", "He"), ("resnet_bn", "BN")):
        rows = frame[(frame[ARM] == arm) & (frame["edge_lr"] > 0)]
        if rows[DEPTH].nunique() >= 3:
            fits = fit_arm(rows, arm, "edge_lr")
            parts.append(
                f"{tag} {_law_text(fits)} (power exponent {short(fits.exponent)}, exp rate "
                f"{short(fits.rate)})"
            )
    return ("2/lambda_max itself: " + "; ".join(parts)) if parts else ""


def _criteria(frame: pd.DataFrame) -> list[str]:
    if "criterion" not in frame:
        return ["diverge (no criterion column: the blow-up rule of older runs)"]
    return sorted({str(c) for c in frame["criterion"].dropna()})


@evaluator("C2", experiment=LR_EXP)
def c2_max_lr(results_dir: Path, profile: str) -> Verdict:
    """Two checks (95% intervals) on max_lr, the largest learning rate at which 100 full-batch
    GD steps never raise the loss by more than the tolerance and end below the start (the
    ``monotone`` criterion: GD's stability edge; runs under any other criterion are not graded:
    inconclusive, rerun with ``task.criterion=monotone``):

    - ResNet without BN (He) exponentially small: holds when the nested fit needs the
      exponential for max_lr(L) and the rate's interval is below 0; against when the rate's
      interval lies at or above 0 (no exponential decrease) or the nested fit finds a power law;
    - ResNet + BN about 1/L: holds when the exponential is not needed and the power exponent's
      interval lies within -1 +- 1/2; against when the nested fit needs the exponential or the
      exponent's interval lies wholly outside -1 +- 1/2;
    - else a check is open. Both hold: reproduced; one: partly; none: contradicted when one is
      against, else inconclusive (more depths or seeds decide); fewer than 3 depths with a
      stable lr: inconclusive.

    Runs with no stable lr (max_lr = 0) are left out of the fits and counted. Reported beside:
    max_lr * lambda_max / 2 per arm (lambda_max of the loss Hessian from the same run: 1 means
    the edge found is the quadratic model's 2 / lambda_max)."""
    frame = read_summary(results_dir, LR_EXP)
    scale = scale_of(results_dir, frame, "GD stability edge, bisection")
    criteria = _criteria(frame)
    if criteria != [EDGE_CRITERION]:
        text = (
            f"probes judged by {', '.join(criteria)}, not by GD's stability edge (a loss that "
            "rises and falls back counts as stable): rerun with task.criterion=monotone"
        )
        return Verdict(INCONCLUSIVE, text, scale, LR_FIGURE, summary=fit_line(text))
    no_lr = frame[frame["max_lr"] <= 0]
    positive = frame[frame["max_lr"] > 0]
    if any(not (positive[ARM] == arm).any() for arm in ("resnet_he", "resnet_bn")):
        text = "no stable learning rate found for He or BN at any depth"
        return Verdict(INCONCLUSIVE, text, scale, LR_FIGURE, summary=text)
    he = depth_curve(positive, "resnet_he", "max_lr")
    bn = depth_curve(positive, "resnet_bn", "max_lr")
    if too_few_depths(he) or too_few_depths(bn):
        text = "fewer than 3 depths with a stable lr: a law fit needs >= 3 depths"
        return Verdict(INCONCLUSIVE, text, scale, LR_FIGURE, summary=text)
    he_fits = fit_arm(positive, "resnet_he", "max_lr")
    bn_fits = fit_arm(positive, "resnet_bn", "max_lr")
    he_ok = he_fits.law == "exponential" and he_fits.rate.below(0.0)
    low, high = -1 - RECIPROCAL_HALF_WIDTH, -1 + RECIPROCAL_HALF_WIDTH
    bn_ok = bn_fits.law != "exponential" and bn_fits.exponent.within(low, high)
    he_check = Check.of(he_ok, he_fits.rate.lo >= 0.0 or he_fits.law == "power")
    bn_check = Check.of(
        bn_ok,
        bn_fits.law == "exponential" or bn_fits.exponent.hi < low or bn_fits.exponent.lo > high,
    )
    status = grade([he_check, bn_check])
    parts = [
        f"criterion: {EDGE_CRITERION} (100 full-batch GD steps, no rise beyond the tolerance)",
        f"He max_lr {he.iloc[0]:.3g} -> {he.iloc[-1]:.3g} ({he_check.outcome}): "
        f"{describe_fits(he_fits)}",
        f"BN max_lr {bn.iloc[0]:.3g} -> {bn.iloc[-1]:.3g} ({bn_check.outcome}; 1/L: exponent "
        f"within [{low:g}, {high:g}]): {describe_fits(bn_fits)}",
    ]
    for arm in ("resnet_fixup", "mlp_he"):
        if (positive[ARM] == arm).any():
            curve = depth_curve(positive, arm, "max_lr")
            parts.append(f"{arm} max_lr {curve.iloc[0]:.3g} -> {curve.iloc[-1]:.3g}")
    ratios = {
        arm: edge_ratio_text(positive, arm)
        for arm in sorted(positive[ARM].unique())
        if edge_ratio_text(positive, arm)
    }
    edge_laws = edge_law_text(positive)
    if edge_laws:
        parts.append(edge_laws)
    if ratios:
        parts.append("edge vs 2/lambda_max (same run): " + ", ".join(
            f"{arm} {text}" for arm, text in ratios.items()
        ))  # fmt: skip
    if not no_lr.empty:
        where = ", ".join(
            f"{arm} L={int(d)}" for arm, d in no_lr[[ARM, DEPTH]].itertuples(index=False)
        )
        parts.append(f"{len(no_lr)} run(s) with no stable lr (left out of the fits): {where}")
    ratio_short = _ratio_short(positive)
    summary = (
        f"He: {_law_text(he_fits, terse=True)} ({he_check.outcome}); BN: p "
        f"{short(bn_fits.exponent)} {bn_fits.law[:3]} ({bn_check.outcome}); "
        + (f"{ratio_short}; " if ratio_short else "")
        + short_scale(frame)
    )
    return Verdict(status, "; ".join(parts), scale, LR_FIGURE, summary=fit_line(summary))


def _ratio_short(frame: pd.DataFrame) -> str:
    """``lr*lam/2 He 0.9, BN 5.1`` (medians over every run of the arm), '' if not measured."""
    ratios = edge_ratios(frame)
    parts = []
    for arm, tag in (("resnet_he", "He"), ("resnet_bn", "BN")):
        values = ratios[(frame[ARM] == arm) & ratios.notna()]
        if not values.empty:
            parts.append(f"{tag} {float(np.median(values)):.2g}")
    return ("lr*lam/2 " + ", ".join(parts)) if parts else ""


def _law_text(fits: DepthFits, terse: bool = False) -> str:
    """The law found, with the interval of its parameter (the summary's form); ``terse``: law
    names cut to 3 letters, p for the exponent, r for the rate."""
    if terse:
        law, rate, exponent, sep = fits.law[:3], "r", "p", " "
    else:
        law, rate, exponent, sep = fits.law, "rate", "exponent", ", "
    if fits.law == "exponential":
        return f"{law}{sep}{rate} {short(fits.choice.rate)}"
    if fits.law == "power":
        return f"{law}{sep}{exponent} {short(fits.choice.exponent)}"
    return f"{law}{sep}exp {rate} {short(fits.rate)}"


FISHER_ARMS = ("mlp_he", "resnet_he", "resnet_bn")


def zero_runs(frame: pd.DataFrame, arm: str) -> tuple[int, int, list[int]]:
    """(runs with lambda_max exactly 0, runs, the depths where any is) of ``arm``: a Fisher whose
    softmax saturates is exactly 0 in floating point; it has no log, so the fits leave it out
    and the verdict and the figure count it."""
    rows = frame[(frame[ARM] == arm) & frame["lambda_max"].notna()]
    zeros = rows[rows["lambda_max"] <= 0]
    return len(zeros), len(rows), sorted({int(d) for d in zeros[DEPTH]})


def positive_curve(frame: pd.DataFrame, arm: str, column: str) -> pd.Series:
    """Median over the seeds with ``column`` > 0 at each depth that has any."""
    rows = frame[(frame[ARM] == arm) & (frame[column] > 0)]
    if rows.empty:
        return pd.Series(dtype=float)
    return depth_curve(rows, arm, column)


def fisher_checks(frame: pd.DataFrame) -> tuple[list[Check], list[str], bool]:
    """(the three checks, one text per arm, enough depths) for one Fisher matrix's rows; each
    check's text is the arm's law found, for the summary."""
    curves = {arm: positive_curve(frame, arm, "lambda_max") for arm in FISHER_ARMS}
    if any(too_few_depths(c) for c in curves.values()):
        parts = []
        for arm, curve in curves.items():
            zeros, runs, depths = zero_runs(frame, arm)
            parts.append(
                f"{arm}: {len(curve)} depth(s) with lambda > 0, exactly 0 in {zeros}/{runs} runs"
                + (f" (L={depths})" if depths else "")
            )
        return [], parts, False
    fits = {arm: fit_arm(frame[frame["lambda_max"] > 0], arm, "lambda_max") for arm in curves}
    mlp = fits["mlp_he"]
    flat = FLAT_HALF_WIDTH
    mlp_check = Check.of(
        mlp.law != "exponential" and mlp.exponent.within(-flat, flat),
        mlp.exponent.hi < -flat or mlp.exponent.lo > flat or mlp.law == "exponential",
        f"MLP p {short(mlp.exponent)} {mlp.law[:3]}",
    )
    he = fits["resnet_he"]
    he_check = Check.of(
        he.law == "exponential" and he.rate.above(0.0),
        he.rate.hi <= 0.0 or he.law == "power",
        f"He {_law_text(he, terse=True)}",
    )
    bn = fits["resnet_bn"]
    bn_check = Check.of(
        bn.law != "exponential" and bn.exponent.below(1.0),
        bn.law == "exponential" or bn.exponent.lo >= 1.0,
        f"BN p {short(bn.exponent)} {bn.law[:3]}",
    )
    checks = [mlp_check, he_check, bn_check]
    parts = []
    for arm, check in zip(FISHER_ARMS, checks, strict=True):
        curve = curves[arm]
        zeros, runs, depths = zero_runs(frame, arm)
        zero = (
            f", exactly 0 in {zeros}/{runs} runs (L={depths}; left out of the fit)" if zeros else ""
        )
        parts.append(
            f"{arm} {curve.iloc[0]:.3g} -> {curve.iloc[-1]:.3g} ({check.outcome}{zero}): "
            f"{describe_fits(fits[arm])}"
        )
    return checks, parts, True


def _zero_count(frame: pd.DataFrame) -> str:
    zeros = int((frame["lambda_max"] <= 0).sum())
    return f"0 in {zeros}/{int(frame['lambda_max'].notna().sum())} runs"


@evaluator("C3", experiment=FISHER_EXP)
def c3_fisher(results_dir: Path, profile: str) -> Verdict:
    """Three checks on the top eigenvalue of the GAUSSIAN-OUTPUT Fisher J^T J / N (J: the
    Jacobian of the logits; the Fisher that analyses at random weights study, and the claim's
    object) vs depth (95% intervals):

    - MLP depth-independent: holds when no exponential is needed and the power exponent's
      interval lies within +-1/2; against when it lies wholly outside, or the nested fit needs
      an exponential;
    - ResNet (He) exponential: holds when the nested fit needs it and the rate's interval is
      above 0; against when the rate's interval lies at or below 0 or a power law is found;
    - ResNet + BN sub-linear: holds when the exponential is not needed and the exponent's
      interval lies below 1; against when the exponential is needed or the interval is >= 1;
    - else open. All hold: reproduced; some: partly; none: contradicted when one is against,
      else inconclusive; fewer than 3 depths with lambda > 0: inconclusive; the Gaussian-output
      Fisher not measured: inconclusive (``task.matrix=fisher_gauss`` decides).

    Runs whose lambda_max is exactly 0 are left out of the fits and counted, per arm. The
    cross-entropy (true) Fisher, and the empirical one when measured, get the same checks,
    reported beside the graded one: they decide nothing (a saturated softmax makes the true
    Fisher vanish whatever the network's Jacobian does)."""
    frame = read_summary(results_dir, FISHER_EXP)
    matrices = frame["matrix"] if "matrix" in frame else pd.Series("fisher_true", frame.index)
    scale = scale_of(results_dir, frame, "Fisher at init")
    graded = frame[matrices == GRADED_FISHER]
    side = []
    side_summary = []
    for matrix in SIDE_FISHERS:
        rows = frame[matrices == matrix]
        if rows.empty:
            continue
        s_checks, s_parts, s_enough = fisher_checks(rows)
        held = f" ({sum(c.held for c in s_checks)}/3)" if s_enough else " (too few depths)"
        side.append(f"{FISHER_NAMES[matrix]}{held}: " + "; ".join(s_parts))
        tag = "CE" if matrix == "fisher_true" else "emp"
        zeros = int((rows["lambda_max"] <= 0).sum())
        side_summary.append(
            f"{tag} {sum(c.held for c in s_checks) if s_enough else '-'}/3, "
            f"{zeros}/{int(rows['lambda_max'].notna().sum())} zero"
        )
    beside = (" | " + " | ".join(side)) if side else ""
    if graded.empty:
        text = (
            "the Gaussian-output Fisher (J^T J, the claim's object) was not measured: "
            "task.matrix=fisher_gauss decides" + beside
        )
        summary = "J^T J Fisher not measured (task.matrix=fisher_gauss decides)"
        return Verdict(INCONCLUSIVE, text, scale, FISHER_FIGURE, summary=summary)
    checks, parts, enough = fisher_checks(graded)
    if not enough:
        text = f"{FISHER_NAMES[GRADED_FISHER]}: " + "; ".join(parts) + beside
        summary = "fewer than 3 depths with J^T J lambda > 0: a law fit needs >= 3"
        return Verdict(INCONCLUSIVE, text, scale, FISHER_FIGURE, summary=summary)
    status = grade(checks)
    held = sum(c.held for c in checks)
    measured = (
        f"graded: {FISHER_NAMES[GRADED_FISHER]} ({held}/3, {_zero_count(graded)}): "
        + "; ".join(parts)
        + beside
    )
    summary = f"J^T J {held}/3: " + ", ".join(c.text for c in checks)
    summary += "".join(f"; {s}" for s in side_summary) + f"; {short_scale(frame)}"
    return Verdict(status, measured, scale, FISHER_FIGURE, summary=fit_line(summary))


@evaluator("C1", experiment=ANGLES_EXP)
def c1_angles(results_dir: Path, profile: str) -> Verdict:
    """Two checks, read as B1 and B3 read them: the MLP's law is exponential (B1's check: against
    when a power law is found, by the draws or by the arc-cosine theory agreeing with the data)
    and ResNet + BN decays like 1/l (B3's reciprocal check: against when the TAIL exponent's
    interval lies wholly outside -1 +- 1/4). Both: reproduced; one: partly; none: partly still
    if the per-example scale-normalized ResNet decays like 1/l, else contradicted when one is
    against (what fails it: a power-law MLP, or a BN angle that stays, grows or falls at another
    rate), else inconclusive (neither decided: more draws, as B1 and B3 say)."""
    mlp_check, mlp_found = b1_check(results_dir)
    reciprocal, _, _ = _b3(results_dir)
    _, mlp, mlp_fits = _fits(results_dir, "mlp")
    _, bn, _ = _fits(results_dir, "resnet_bn")
    scale_reciprocal, scale_text = _scale_norm(results_dir)
    status = grade([mlp_check, reciprocal])
    if status in (CONTRADICTED, INCONCLUSIVE) and scale_reciprocal:
        status = PARTLY
    text = (
        f"MLP angle law {mlp.law} ({mlp.law_how}; rmse exp - power {mlp.angle_diff.text()}, "
        f"tail exponent {mlp.tail_exponent.text()}); ResNet+BN angle {bn.first:.3g}->"
        f"{bn.last:.3g} rad, tail exponent {bn.tail_exponent.text()} (1/l: "
        f"{reciprocal.outcome}); 95% t intervals over draws"
        + (f" | {scale_text}" if scale_text else "")
    )
    summary = (
        f"MLP {mlp.law} ({laws_count(mlp_fits, mlp.law)}), tail exp {short(mlp.tail_exponent)}; "
        f"BN tail exp {short(bn.tail_exponent)} (1/l {reciprocal.outcome}); "
        f"{_short_scale(results_dir, ANGLES_EXP)}"
    )
    return Verdict(
        status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE, summary=_fit_line(summary)
    )

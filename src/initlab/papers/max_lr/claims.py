"""Verdict rules for C2 and C3 (depth and the largest usable learning rate; Fisher spectrum).

Inputs, collected under ``results/<profile>/`` (column ``arm``, see ``conf/arm/``):

* ``c2_max_lr_depth/summary.csv``: ``max_lr`` per (arm, ``model.depth``, seed) from
  ``task=lr_search``; ``a1_a2_hessian_depth/summary.csv`` (if present) gives 2 / lambda_max next
  to it;
* ``c3_fisher_depth/summary.csv``: ``lambda_max`` of the true Fisher per (arm, depth, seed).

Curves and fits as in :mod:`initlab.papers.fixup_hessian.claims` (median over seeds; power law vs
exponential by the RMSE of log y).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.claims.registry import NotRun, Verdict, evaluator, grade
from initlab.columns import ARM
from initlab.papers.fixup_hessian.claims import (
    DEPTH_EXP,
    depth_curve,
    describe_fits,
    fit_curve,
    read_summary,
    scale_of,
    too_few_depths,
)

LR_EXP = "c2_max_lr_depth"
FISHER_EXP = "c3_fisher_depth"
LR_FIGURE = f"{LR_EXP}/max_lr_vs_depth.png"
FISHER_FIGURE = f"{FISHER_EXP}/fisher_vs_depth.png"


def _sharpness_note(results_dir: Path, arm: str, curve) -> str:
    """max_lr x lambda_max / 2 at the deepest common depth (1: exactly the GD stability edge)."""
    try:
        hessian = depth_curve(read_summary(results_dir, DEPTH_EXP), arm, "lambda_max")
    except (NotRun, KeyError):
        return ""
    common = sorted(set(curve.index) & set(hessian.index))
    if not common:
        return ""
    ratios = [curve[d] * hessian[d] / 2 for d in common]
    return f", max_lr / (2/lambda_max) = {ratios[0]:.2g}..{ratios[-1]:.2g}"


@evaluator("C2", experiment=LR_EXP)
def c2_max_lr(results_dir: Path, profile: str) -> Verdict:
    """Two checks: ResNet without BN (He): max_lr(L) fits an exponential better than a power law,
    with a negative rate; ResNet + BN: the power law fits better and its exponent rounds to -1
    (about 1/L). Both: reproduced; one: partly; none: not reproduced."""
    frame = read_summary(results_dir, LR_EXP)
    frame = frame[frame["max_lr"] > 0]
    he = depth_curve(frame, "resnet_he", "max_lr")
    bn = depth_curve(frame, "resnet_bn", "max_lr")
    scale = scale_of(results_dir, frame, "GD lr bisection")
    if too_few_depths(he) or too_few_depths(bn):
        return Verdict("not run at this scale", "fewer than 3 depths", scale, LR_FIGURE)
    he_fits, bn_fits = fit_curve(he), fit_curve(bn)
    he_ok = next(iter(he_fits)) == "exponential" and he_fits["exponential"].params["rate"] < 0
    bn_exponent = bn_fits["power"].params["exponent"]
    bn_ok = next(iter(bn_fits)) == "power" and round(bn_exponent) == -1
    status = grade([he_ok, bn_ok])
    parts = [
        f"He max_lr {he.iloc[0]:.3g} -> {he.iloc[-1]:.3g}: {describe_fits(he_fits)}"
        + _sharpness_note(results_dir, "resnet_he", he),
        f"BN max_lr {bn.iloc[0]:.3g} -> {bn.iloc[-1]:.3g}: {describe_fits(bn_fits)}"
        + _sharpness_note(results_dir, "resnet_bn", bn),
    ]
    for arm in ("resnet_fixup", "mlp_he"):
        if (frame[ARM] == arm).any():
            curve = depth_curve(frame, arm, "max_lr")
            parts.append(f"{arm} {curve.iloc[0]:.3g} -> {curve.iloc[-1]:.3g}")
    return Verdict(status, "; ".join(parts), scale, LR_FIGURE)


def positive_curve(frame: pd.DataFrame, arm: str, column: str) -> tuple[pd.Series, list[int]]:
    """The depth curve without the depths whose median is not > 0 (returned apart): the true
    Fisher of a net whose softmax saturates is exactly 0 in floating point and has no log."""
    curve = depth_curve(frame, arm, column)
    return curve[curve > 0], [int(d) for d in curve.index[curve <= 0]]


def fisher_checks(frame: pd.DataFrame) -> tuple[list[bool], list[str], bool]:
    """(the three checks, one text per arm, enough depths) for one Fisher matrix's rows."""
    curves = {arm: positive_curve(frame, arm, "lambda_max") for arm in FISHER_ARMS}
    if any(too_few_depths(c) for c, _ in curves.values()):
        return [], [f"{arm}: fewer than 3 depths with lambda > 0" for arm in curves], False
    fits = {arm: fit_curve(c) for arm, (c, _) in curves.items()}
    mlp_ok = round(fits["mlp_he"]["power"].params["exponent"]) == 0
    he = fits["resnet_he"]
    he_ok = next(iter(he)) == "exponential" and he["exponential"].params["rate"] > 0
    bn = fits["resnet_bn"]
    bn_ok = next(iter(bn)) == "power" and bn["power"].params["exponent"] < 1
    parts = []
    for arm, ok in (("mlp_he", mlp_ok), ("resnet_he", he_ok), ("resnet_bn", bn_ok)):
        curve, zeros = curves[arm]
        zero = f", exactly 0 (saturated softmax) at L={zeros}" if zeros else ""
        parts.append(
            f"{arm} {curve.iloc[0]:.3g} -> {curve.iloc[-1]:.3g} ({'ok' if ok else 'fails'}"
            f"{zero}): {describe_fits(fits[arm])}"
        )
    return [mlp_ok, he_ok, bn_ok], parts, True


FISHER_ARMS = ("mlp_he", "resnet_he", "resnet_bn")


@evaluator("C3", experiment=FISHER_EXP)
def c3_fisher(results_dir: Path, profile: str) -> Verdict:
    """Three checks on the TRUE Fisher's top eigenvalue vs depth: MLP depth-independent (power
    exponent rounds to 0), ResNet (He) exponential (exponential fits better, positive rate),
    ResNet + BN sub-linear (power fits better, exponent < 1). All: reproduced; some: partly.
    Depths where it is exactly 0 are left out of the fits and named. The empirical Fisher's
    checks, when measured, are reported next to it."""
    frame = read_summary(results_dir, FISHER_EXP)
    matrices = frame["matrix"] if "matrix" in frame else pd.Series("fisher_true", frame.index)
    scale = scale_of(results_dir, frame, "Fisher at init")
    checks, parts, enough = fisher_checks(frame[matrices == "fisher_true"])
    if not enough:
        return Verdict("not run at this scale", "; ".join(parts), scale, FISHER_FIGURE)
    status = grade(checks)
    measured = f"true Fisher ({sum(checks)}/3): " + "; ".join(parts)
    empirical = frame[matrices == "fisher_empirical"]
    if not empirical.empty:
        e_checks, e_parts, e_enough = fisher_checks(empirical)
        if e_enough:
            measured += f" | empirical Fisher ({sum(e_checks)}/3): " + "; ".join(e_parts)
    return Verdict(status, measured, scale, FISHER_FIGURE)

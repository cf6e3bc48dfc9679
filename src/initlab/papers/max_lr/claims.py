"""Verdict rules for C2 and C3 (depth and the largest usable learning rate; Fisher spectrum).

Inputs, collected under ``results/<profile>/`` (column ``arm``, see ``conf/arm/``):

* ``c2_max_lr_depth/summary.csv``: ``max_lr`` per (arm, ``model.depth``, seed) from
  ``task=lr_search``; ``a1_a2_hessian_depth/summary.csv`` (if present) gives 2 / lambda_max next
  to it;
* ``c3_fisher_depth/summary.csv``: ``lambda_max`` of the true Fisher per (arm, depth, seed).

Curves and fits as in :mod:`initlab.papers.fixup_hessian.claims`: both laws fitted to every
seed's point with 95% t intervals from the regression's standard error, the law chosen by the
nested fit (exponential when its rate is needed, power when only the exponent is, else
undecided), thresholds held only by the whole interval.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.claims.registry import NotRun, Verdict, evaluator, grade
from initlab.columns import ARM, DEPTH
from initlab.papers.angles.claims import (
    ANGLES_EXP,
    ARCH_FIGURE,
    _b1,
    _b3,
    _fits,
    _scale,
    _scale_norm,
)
from initlab.papers.fixup_hessian.claims import (
    DEPTH_EXP,
    depth_curve,
    describe_fits,
    fit_arm,
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
    """Two checks: ResNet without BN (He): the nested fit prefers the exponential for max_lr(L)
    and the rate's 95% interval is below 0; ResNet + BN: the exponential is not preferred and the
    power exponent's interval lies within -1 +- 1/2 (about 1/L). Both: reproduced; one: partly;
    none: not reproduced."""
    frame = read_summary(results_dir, LR_EXP)
    frame = frame[frame["max_lr"] > 0]
    he = depth_curve(frame, "resnet_he", "max_lr")
    bn = depth_curve(frame, "resnet_bn", "max_lr")
    scale = scale_of(results_dir, frame, "GD lr bisection")
    if too_few_depths(he) or too_few_depths(bn):
        return Verdict("not run at this scale", "fewer than 3 depths", scale, LR_FIGURE)
    he_fits, bn_fits = fit_arm(frame, "resnet_he", "max_lr"), fit_arm(frame, "resnet_bn", "max_lr")
    he_ok = he_fits.law == "exponential" and he_fits.rate.below(0.0)
    bn_ok = bn_fits.law != "exponential" and bn_fits.exponent.within(-1.5, -0.5)
    status = grade([he_ok, bn_ok])
    parts = [
        f"He max_lr {he.iloc[0]:.3g} -> {he.iloc[-1]:.3g} ({'ok' if he_ok else 'fails'}): "
        f"{describe_fits(he_fits)}" + _sharpness_note(results_dir, "resnet_he", he),
        f"BN max_lr {bn.iloc[0]:.3g} -> {bn.iloc[-1]:.3g} ({'ok' if bn_ok else 'fails'}): "
        f"{describe_fits(bn_fits)}" + _sharpness_note(results_dir, "resnet_bn", bn),
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
    fits = {
        arm: fit_arm(frame[frame[DEPTH].isin(c.index)], arm, "lambda_max")
        for arm, (c, _) in curves.items()
    }
    mlp_ok = fits["mlp_he"].exponent.within(-0.5, 0.5)
    he = fits["resnet_he"]
    he_ok = he.law == "exponential" and he.rate.above(0.0)
    bn = fits["resnet_bn"]
    bn_ok = bn.law != "exponential" and bn.exponent.below(1.0)
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
    """Three checks on the TRUE Fisher's top eigenvalue vs depth (95% intervals): MLP
    depth-independent (power exponent's interval within +-1/2), ResNet (He) exponential (the
    nested fit prefers it, rate's interval above 0), ResNet + BN sub-linear (exponential not
    preferred, exponent's interval below 1). All: reproduced; some: partly. Depths where the
    median is exactly 0 are left out of the fits and named. The empirical Fisher's checks, when
    measured, are reported next to it."""
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


@evaluator("C1", experiment=ANGLES_EXP)
def c1_angles(results_dir: Path, profile: str) -> Verdict:
    law, _ = _b1(results_dir)
    reciprocal, _, _ = _b3(results_dir)
    _, mlp, _ = _fits(results_dir, "mlp")
    _, bn, _ = _fits(results_dir, "resnet_bn")
    exponential = law == "exponential"
    scale_reciprocal, scale_text = _scale_norm(results_dir)
    status = grade([exponential, reciprocal])
    if status == "not reproduced" and scale_reciprocal:
        status = "partly"
    text = (
        f"MLP angle law {mlp.angle_law} (rmse exp - power {mlp.angle_diff.text()}, power "
        f"exponent {mlp.angle_exponent.text()}); ResNet+BN angle {bn.first:.3g}->{bn.last:.3g} "
        f"rad, power exponent {bn.angle_exponent.text()} (1/l: {reciprocal}); 95% intervals over "
        "draws" + (f" | {scale_text}" if scale_text else "")
    )
    return Verdict(status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE)

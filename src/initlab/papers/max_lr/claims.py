"""Verdict rules for C2 and C3 (depth and the largest usable learning rate; Fisher spectrum).

Inputs, collected under ``results/<profile>/`` (column ``arm``, see ``conf/arm/``):

* ``c2_max_lr_depth/summary.csv``: ``max_lr`` per (arm, ``model.depth``, seed) from
  ``task=lr_search``; ``a1_a2_hessian_depth/summary.csv`` (if present) gives 2 / lambda_max next
  to it;
* ``c3_fisher_depth/summary.csv``: ``lambda_max`` of the true Fisher per (arm, depth, seed).

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

import pandas as pd

from initlab.claims.decide import short
from initlab.claims.registry import (
    CONTRADICTED,
    INCONCLUSIVE,
    PARTLY,
    Check,
    NotRun,
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
    DEPTH_EXP,
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
    """Two checks (95% intervals):

    - ResNet without BN (He): holds when the nested fit needs the exponential for max_lr(L) and
      the rate's interval is below 0; against when the rate's interval lies at or above 0 (no
      exponential decrease) or the nested fit finds a power law;
    - ResNet + BN: holds when the exponential is not needed and the power exponent's interval
      lies within -1 +- 1/2 (about 1/L); against when the nested fit needs the exponential or
      the exponent's interval lies wholly outside -1 +- 1/2;
    - else a check is open. Both hold: reproduced; one: partly; none: contradicted when one is
      against, else inconclusive (more depths or seeds decide); fewer than 3 depths:
      inconclusive.
    """
    frame = read_summary(results_dir, LR_EXP)
    frame = frame[frame["max_lr"] > 0]
    he = depth_curve(frame, "resnet_he", "max_lr")
    bn = depth_curve(frame, "resnet_bn", "max_lr")
    scale = scale_of(results_dir, frame, "GD lr bisection")
    if too_few_depths(he) or too_few_depths(bn):
        text = "fewer than 3 depths: a law fit needs >= 3 depths"
        return Verdict(INCONCLUSIVE, text, scale, LR_FIGURE, summary=text)
    he_fits, bn_fits = fit_arm(frame, "resnet_he", "max_lr"), fit_arm(frame, "resnet_bn", "max_lr")
    he_ok = he_fits.law == "exponential" and he_fits.rate.below(0.0)
    bn_ok = bn_fits.law != "exponential" and bn_fits.exponent.within(-1.5, -0.5)
    he_check = Check.of(he_ok, he_fits.rate.lo >= 0.0 or he_fits.law == "power")
    bn_check = Check.of(
        bn_ok,
        bn_fits.law == "exponential" or bn_fits.exponent.hi < -1.5 or bn_fits.exponent.lo > -0.5,
    )
    status = grade([he_check, bn_check])
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
    summary = (
        f"He: {_law_text(he_fits)} ({he_check.outcome}); BN: power exponent "
        f"{short(bn_fits.exponent)}, law {bn_fits.law} ({bn_check.outcome}); {short_scale(frame)}"
    )
    return Verdict(status, "; ".join(parts), scale, LR_FIGURE, summary=_fit_line(summary))


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


def positive_curve(frame: pd.DataFrame, arm: str, column: str) -> tuple[pd.Series, list[int]]:
    """The depth curve without the depths whose median is not > 0 (returned apart): the true
    Fisher of a net whose softmax saturates is exactly 0 in floating point and has no log."""
    curve = depth_curve(frame, arm, column)
    return curve[curve > 0], [int(d) for d in curve.index[curve <= 0]]


def fisher_checks(frame: pd.DataFrame) -> tuple[list[Check], list[str], bool]:
    """(the three checks, one text per arm, enough depths) for one Fisher matrix's rows; each
    check's text is the arm's law found, for the summary."""
    curves = {arm: positive_curve(frame, arm, "lambda_max") for arm in FISHER_ARMS}
    if any(too_few_depths(c) for c, _ in curves.values()):
        return [], [f"{arm}: fewer than 3 depths with lambda > 0" for arm in curves], False
    fits = {
        arm: fit_arm(frame[frame[DEPTH].isin(c.index)], arm, "lambda_max")
        for arm, (c, _) in curves.items()
    }
    mlp = fits["mlp_he"]
    mlp_check = Check.of(
        mlp.exponent.within(-0.5, 0.5),
        mlp.exponent.hi < -0.5 or mlp.exponent.lo > 0.5 or mlp.law == "exponential",
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
    for arm, check in zip(("mlp_he", "resnet_he", "resnet_bn"), checks, strict=True):
        curve, zeros = curves[arm]
        zero = f", exactly 0 (saturated softmax) at L={zeros}" if zeros else ""
        parts.append(
            f"{arm} {curve.iloc[0]:.3g} -> {curve.iloc[-1]:.3g} ({'ok' if check.held else 'fails'}"
            f"{zero}; {check.outcome}): {describe_fits(fits[arm])}"
        )
    return checks, parts, True


FISHER_ARMS = ("mlp_he", "resnet_he", "resnet_bn")


@evaluator("C3", experiment=FISHER_EXP)
def c3_fisher(results_dir: Path, profile: str) -> Verdict:
    """Three checks on the TRUE Fisher's top eigenvalue vs depth (95% intervals):

    - MLP depth-independent: holds when the power exponent's interval lies within +-1/2; against
      when it lies wholly outside, or the nested fit needs an exponential;
    - ResNet (He) exponential: holds when the nested fit needs it and the rate's interval is
      above 0; against when the rate's interval lies at or below 0 or a power law is found;
    - ResNet + BN sub-linear: holds when the exponential is not needed and the exponent's
      interval lies below 1; against when the exponential is needed or the interval is >= 1;
    - else open. All hold: reproduced; some: partly; none: contradicted when one is against,
      else inconclusive; fewer than 3 depths with lambda > 0: inconclusive.

    Depths where the median is exactly 0 are left out of the fits and named. The empirical
    Fisher's checks, when measured, are reported next to it."""
    frame = read_summary(results_dir, FISHER_EXP)
    matrices = frame["matrix"] if "matrix" in frame else pd.Series("fisher_true", frame.index)
    scale = scale_of(results_dir, frame, "Fisher at init")
    checks, parts, enough = fisher_checks(frame[matrices == "fisher_true"])
    if not enough:
        text = "; ".join(parts)
        summary = "fewer than 3 depths with lambda > 0: a law fit needs >= 3"
        return Verdict(INCONCLUSIVE, text, scale, FISHER_FIGURE, summary=summary)
    status = grade(checks)
    held = sum(c.held for c in checks)
    measured = f"true Fisher ({held}/3): " + "; ".join(parts)
    empirical = frame[matrices == "fisher_empirical"]
    if not empirical.empty:
        e_checks, e_parts, e_enough = fisher_checks(empirical)
        if e_enough:
            e_held = sum(c.held for c in e_checks)
            measured += f" | empirical Fisher ({e_held}/3): " + "; ".join(e_parts)
    summary = f"true Fisher {held}/3: " + ", ".join(c.text for c in checks)
    summary += f"; {short_scale(frame)}"
    return Verdict(status, measured, scale, FISHER_FIGURE, summary=_fit_line(summary))


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

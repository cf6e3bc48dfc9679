"""Verdict rules for B1-B5 (skip connections and BatchNorm keep inputs apart); C1, measured on
the same angles, has its rule in :mod:`initlab.papers.max_lr.claims`.

Inputs: ``angles.csv`` / ``draws.csv`` collected from ``task=angles`` runs (column ``arch``:
``mlp``, ``resnet``, ``resnet_bn``, ``resnet_fixup``).

Law fits (:mod:`initlab.analysis.laws`) of the angle and of 1 - cosine against the layer index
l = 1..L: an exponential law (log y linear in l) against a power law (log y linear in log l),
fitted to each draw's curve (one draw = one network: its layers are not independent points, so
the intervals come from the spread between draws). The comparison statistic is the difference
of log-space RMSEs, exponential minus power, per draw; its 95% t interval over draws decides:
"power" when it lies above 0, "exponential" below 0, "undecided" when it straddles 0. Exponents
and rates are reported as the mean over draws with the same kind of interval. The deciding curve
is the pair set of the smallest initial cosine (the most different inputs: the longest way to
fall); the other pair sets and the random data pairs are counted and reported next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from initlab.analysis.laws import Estimate, LawFit, fit_law, replicate_interval
from initlab.claims.registry import NotRun, Verdict, evaluator, grade
from initlab.claims.registry import read_table as _read_table

ANGLES_EXP = "b1_b3_angles"
RATIO_EXP = "b4_distance_ratio"
TRAINED_EXP = "b5_trained_ratio"
ANGLE_FIGURE = f"{ANGLES_EXP}/angle_vs_layer.png"
ARCH_FIGURE = f"{ANGLES_EXP}/angle_by_arch.png"
RATIO_FIGURE = f"{RATIO_EXP}/ratio_vs_layer.png"
TRAINED_FIGURE = f"{TRAINED_EXP}/ratio_before_after.png"

#: B3: "about 1/l" accepts a power-law exponent of the angle whose 95% interval (over draws) lies
#: within this distance of -1.
RECIPROCAL_TOL = 0.25


def read_table(results_dir: Path, experiment: str, table: str) -> pd.DataFrame:
    """A collected table with only the rows of completed runs."""
    return _read_table(results_dir, experiment, table)


def pair_curves(
    angles: pd.DataFrame, arch: str, stage: str = "init", by_draw: bool = False
) -> dict[str, pd.DataFrame]:
    """Per pair set (``cos0=<c>`` for synthetic pairs, ``data``): layer-indexed draw means of
    angle_mean, one_minus_cos_mean, theory_angle, theory_cos, cos_mean; ordered by initial
    cosine (data last). ``by_draw``: indexed by (draw, layer) instead, one curve per draw."""
    rows = angles[(angles.arch == arch) & (angles.stage == stage) & angles.cos_mean.notna()]
    if rows.empty:
        raise NotRun(f"no {stage} angle rows for {arch}")
    curves = {}
    synth = rows[rows.inputs == "synthetic"]
    for cos0, part in sorted(synth.groupby(synth.cos0.round(6)), key=lambda kv: kv[0]):
        curves[f"cos0={cos0:g}"] = _mean_curve(part, by_draw)
    data = rows[rows.inputs == "data"]
    if not data.empty:
        curves["data"] = _mean_curve(data, by_draw)
    return curves


def _mean_curve(rows: pd.DataFrame, by_draw: bool = False) -> pd.DataFrame:
    columns = ["angle_mean", "one_minus_cos_mean", "theory_angle", "theory_cos", "cos_mean"]
    keys = ["draw", "layer"] if by_draw else "layer"
    return rows.groupby(keys)[columns].mean().sort_index(kind="stable")


def law_of(difference: Estimate) -> str:
    """The law an interval of (exponential RMSE - power RMSE) decides for."""
    if difference.above(0.0):
        return "power"
    if difference.below(0.0):
        return "exponential"
    return "undecided"


@dataclass(frozen=True)
class CurveFit:
    """Exponential vs power-law fits of one pair set's angle and 1 - cosine over layers >= 1:
    the fits of the draw-averaged curve, and per-draw estimates with intervals over draws."""

    angle_exp: LawFit
    angle_pow: LawFit
    omc_exp: LawFit
    omc_pow: LawFit
    first: float  # angle at layer 1
    last: float  # angle at the last layer
    angle_exponent: Estimate
    angle_rate: Estimate
    angle_diff: Estimate  # RMSE(exponential) - RMSE(power) of the angle, per draw
    omc_diff: Estimate

    @property
    def angle_law(self) -> str:
        return law_of(self.angle_diff)

    @property
    def omc_law(self) -> str:
        return law_of(self.omc_diff)

    @property
    def decreasing(self) -> bool:
        return self.last < self.first

    def describe(self) -> str:
        return (
            f"angle {self.first:.3g}->{self.last:.3g} rad; angle: exp rate "
            f"{self.angle_rate.text()}/layer (R2 {self.angle_exp.r2_log:.3f}) vs power exponent "
            f"{self.angle_exponent.text()} (R2 {self.angle_pow.r2_log:.3f}), rmse exp - power "
            f"{self.angle_diff.text()} ({self.angle_law}); 1-cos: rmse exp - power "
            f"{self.omc_diff.text()} ({self.omc_law}); intervals: {self.angle_diff.method}"
        )


def _curve_arrays(curve: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    part = curve[curve.index >= 1]
    omc = np.clip(part.one_minus_cos_mean.to_numpy(), np.finfo(float).tiny, None)
    return part.index.to_numpy(dtype=float), part.angle_mean.to_numpy(), omc


def fit_curve(curve: pd.DataFrame, by_draw: pd.DataFrame | None = None) -> CurveFit:
    """Fits of the draw-mean ``curve``; intervals from ``by_draw`` (indexed by draw, layer; the
    mean curve alone gives infinite intervals)."""
    layers, angle, omc = _curve_arrays(curve)
    per_draw = []
    draws = by_draw.groupby(level="draw") if by_draw is not None else []
    for _, rows in draws:
        x, a, o = _curve_arrays(rows.droplevel("draw"))
        ae, ap = fit_law("exponential", x, a), fit_law("power", x, a)
        oe, op = fit_law("exponential", x, o), fit_law("power", x, o)
        per_draw.append(
            (
                ap.params["exponent"],
                ae.params["rate"],
                ae.rmse_log - ap.rmse_log,
                oe.rmse_log - op.rmse_log,
            )
        )
    values = np.array(per_draw, dtype=float).reshape(-1, 4)
    if len(values) == 0:
        values = np.full((1, 4), np.nan)

    def interval(column: int, fallback: float) -> Estimate:
        finite = values[np.isfinite(values[:, column]), column]
        if finite.size == 0:
            return Estimate(fallback, -np.inf, np.inf, "no draws: no interval")
        return replicate_interval(finite, what="draws")

    angle_exp, angle_pow = fit_law("exponential", layers, angle), fit_law("power", layers, angle)
    omc_exp, omc_pow = fit_law("exponential", layers, omc), fit_law("power", layers, omc)
    return CurveFit(
        angle_exp,
        angle_pow,
        omc_exp,
        omc_pow,
        float(angle[0]),
        float(angle[-1]),
        interval(0, angle_pow.params["exponent"]),
        interval(1, angle_exp.params["rate"]),
        interval(2, angle_exp.rmse_log - angle_pow.rmse_log),
        interval(3, omc_exp.rmse_log - omc_pow.rmse_log),
    )


def _fits(results_dir: Path, arch: str) -> tuple[str, CurveFit, dict[str, CurveFit]]:
    table = read_table(results_dir, ANGLES_EXP, "angles")
    curves = pair_curves(table, arch)
    by_draw = pair_curves(table, arch, by_draw=True)
    fits = {name: fit_curve(c, by_draw[name]) for name, c in curves.items()}
    deciding = next(n for n in fits if n != "data") if len(fits) > 1 else next(iter(fits))
    return deciding, fits[deciding], fits


def _scale(results_dir: Path, experiment: str, table: str = "angles") -> str:
    frame = read_table(results_dir, experiment, table)
    draws = frame.groupby("arch").draw.nunique().min()
    data = ",".join(sorted(frame["data_name"].astype(str).unique()))
    return (
        f"depth {int(frame.depth.max())}, width "
        f"{int(frame.width.max())}, {draws} draws/net, data {data}"
    )


def _agreeing(fits: dict[str, CurveFit], deciding: str, law: str) -> str:
    others = [n for n in fits if n != deciding]
    agree = [n for n in others if fits[n].angle_law == law]
    return f"{len(agree)}/{len(others)} other pair sets agree"


def _b1(results_dir: Path) -> tuple[str, str]:
    """(law of the MLP's angle, measured text)."""
    name, fit, fits = _fits(results_dir, "mlp")
    curve = pair_curves(read_table(results_dir, ANGLES_EXP, "angles"), "mlp")[name]
    law = fit.angle_law
    text = (
        f"MLP pairs {name}: {fit.describe()}; angle law {law}, 1-cos law "
        f"{fit.omc_law} ({_agreeing(fits, name, law)})"
    )
    if curve.theory_angle.notna().all():
        text += (
            f"; arc-cosine theory at layer {curve.index.max()}: "
            f"{curve.theory_angle.iloc[-1]:.3g} rad (its tail is ~3 pi / l, a power law)"
        )
    if law == fit.omc_law:
        return law, text
    return ("mixed" if "exponential" in (law, fit.omc_law) else "not exponential"), text


@evaluator("B1", experiment=ANGLES_EXP)
def b1_mlp_exponential(results_dir: Path, profile: str) -> Verdict:
    """Reproduced when the intervals decide for the exponential in both the angle and 1 - cos;
    partly when only one of them does; else not reproduced (power, or undecided)."""
    law, text = _b1(results_dir)
    status = {"exponential": "reproduced", "mixed": "partly"}.get(law, "not reproduced")
    return Verdict(status, text, _scale(results_dir, ANGLES_EXP), ANGLE_FIGURE)


@evaluator("B2", experiment=ANGLES_EXP)
def b2_resnet_subexponential(results_dir: Path, profile: str) -> Verdict:
    name, res, fits = _fits(results_dir, "resnet")
    _, mlp, _ = _fits(results_dir, "mlp")
    sub = res.decreasing and res.angle_law == "power"
    slower = res.last > mlp.last
    status = grade([sub, slower])
    text = (
        f"ResNet pairs {name}: {res.describe()}; decreasing {res.decreasing}, law "
        f"{res.angle_law} ({_agreeing(fits, name, res.angle_law)}); last-layer angle "
        f"{res.last:.3g} vs MLP {mlp.last:.3g} (slower: {slower}; the MLP's own law is "
        f"{mlp.angle_law})"
    )
    return Verdict(status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE)


def _b3(results_dir: Path) -> tuple[bool, bool, str]:
    """(reciprocal decrease, slower than the ResNet, measured text)."""
    name, bn, fits = _fits(results_dir, "resnet_bn")
    _, res, _ = _fits(results_dir, "resnet")
    exponent = bn.angle_exponent
    reciprocal = _is_reciprocal(bn)
    slower = bn.last > res.last
    text = (
        f"ResNet+BN pairs {name}: {bn.describe()}; decreasing {bn.decreasing}, law "
        f"{bn.angle_law}, angle exponent {exponent.text()} (1/l needs the interval inside -1 +- "
        f"{RECIPROCAL_TOL}: {reciprocal}); data pairs angle exponent "
        f"{fits['data'].angle_exponent.text()}; other pair sets layer 1->L: "
        + ", ".join(f"{n} {f.first:.3g}->{f.last:.3g}" for n, f in fits.items() if n != name)
        + f"; last-layer angle {bn.last:.3g} vs "
        f"ResNet {res.last:.3g} (slower: {slower})"
        if "data" in fits
        else f"ResNet+BN pairs {name}: {bn.describe()}; 1/l: {reciprocal}; slower: {slower}"
    )
    return reciprocal, slower, text


#: the per-example, scale-only normalization (the mean-field idealization; arm angles_resnet_scale)
SCALE_ARCH = "resnet_scale"


def _is_reciprocal(fit: CurveFit) -> bool:
    return (
        fit.decreasing
        and fit.angle_law == "power"
        and fit.angle_exponent.within(-1.0 - RECIPROCAL_TOL, -1.0 + RECIPROCAL_TOL)
    )


def _theory_exponent(curve: pd.DataFrame) -> str:
    """Power and exponential fits of a pair set's mean-field angle (deterministic: no interval)."""
    part = curve[(curve.index >= 1) & curve.theory_angle.notna()]
    if len(part) < 3 or (part.theory_angle <= 0).any():
        return "no theory curve"
    layers, angle = part.index.to_numpy(float), part.theory_angle.to_numpy(float)
    power, exp = fit_law("power", layers, angle), fit_law("exponential", layers, angle)
    law = "power" if power.rmse_log < exp.rmse_log else "exponential"
    return (
        f"theory angle {angle[0]:.3g}->{angle[-1]:.3g}, power exponent "
        f"{power.params['exponent']:.3g} (rmse {power.rmse_log:.2g}) vs exp rate "
        f"{exp.params['rate']:.3g} (rmse {exp.rmse_log:.2g}): {law}"
    )


def _scale_norm(results_dir: Path) -> tuple[bool | None, str]:
    """(reciprocal?, text) for the per-example scale-normalized ResNet; (None, "") if not run."""
    try:
        name, fit, _ = _fits(results_dir, SCALE_ARCH)
    except NotRun:
        return None, ""
    curve = pair_curves(read_table(results_dir, ANGLES_EXP, "angles"), SCALE_ARCH)[name]
    reciprocal = _is_reciprocal(fit)
    return reciprocal, (
        f"per-example scale norm ({SCALE_ARCH}) pairs {name}: angle {fit.first:.3g}->"
        f"{fit.last:.3g} rad, law {fit.angle_law}, angle exponent {fit.angle_exponent.text()} "
        f"(1/l: {reciprocal}); its mean-field recursion (mode normalized): "
        f"{_theory_exponent(curve)}"
    )


@evaluator("B3", experiment=ANGLES_EXP)
def b3_bn_reciprocal(results_dir: Path, profile: str) -> Verdict:
    """True BatchNorm decides: reproduced if its angle decays like 1/l (the exponent's interval
    within -1 +- RECIPROCAL_TOL, the power law decided) and slower than the plain ResNet's;
    partly if one of the two holds, or if only the per-example scale-normalized ResNet (the
    idealization) decays like 1/l; else not reproduced. Both notions are reported."""
    reciprocal, slower, text = _b3(results_dir)
    scale_reciprocal, scale_text = _scale_norm(results_dir)
    if scale_text:
        text += f" | {scale_text}"
    status = grade([reciprocal, slower])
    if status == "not reproduced" and scale_reciprocal:
        status = "partly"
    return Verdict(status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE)


def ratio_curves(angles: pd.DataFrame, stage: str = "init") -> pd.DataFrame:
    """Draw-averaged between/within ratio per (data, arch, layer) from the data rows."""
    rows = angles[(angles.inputs == "data") & (angles.stage == stage)]
    keys = ["data_name", "arch", "layer"]
    per_draw = rows.groupby([*keys, "draw"]).ratio.first().reset_index()
    return per_draw.groupby(keys).ratio.mean().reset_index()


@evaluator("B4", experiment=RATIO_EXP)
def b4_ratio(results_dir: Path, profile: str) -> Verdict:
    curves = ratio_curves(read_table(results_dir, RATIO_EXP, "angles"))
    parts, mlp_worsens, relieved, checks = [], [], 0, 0
    for data, part in curves.groupby("data_name"):
        change = {}
        for arch, c in part.groupby("arch"):
            c = c.sort_values("layer", kind="stable")
            change[arch] = float(c.ratio.iloc[-1] / c.ratio.iloc[0])
        if "mlp" not in change:
            raise NotRun(f"no MLP ratio rows for {data}")
        mlp = change["mlp"]
        mlp_worsens.append(mlp < 1.0)
        for arch in ("resnet", "resnet_bn"):
            if arch in change:
                checks += 1
                relieved += change[arch] > mlp
        parts.append(
            f"{data}: ratio last/input " + ", ".join(f"{a} {v:.3g}" for a, v in change.items())
        )
    if all(mlp_worsens) and checks and relieved == checks:
        status = "reproduced"
    elif any(mlp_worsens) and relieved > 0:
        status = "partly"
    else:
        status = "not reproduced"
    text = (
        "; ".join(parts)
        + f"; MLP worsens on {sum(mlp_worsens)}/{len(mlp_worsens)} data sets, skip/BN above MLP "
        f"in {relieved}/{checks}"
    )
    return Verdict(status, text, _scale(results_dir, RATIO_EXP), RATIO_FIGURE)


@evaluator("B5", experiment=TRAINED_EXP)
def b5_trained_ratio(results_dir: Path, profile: str) -> Verdict:
    draws = read_table(results_dir, TRAINED_EXP, "draws")
    init = draws[draws.stage == "init"].groupby("arch")
    trained = draws[draws.stage == "trained"].groupby("arch")
    table = pd.DataFrame(
        {
            "angle_init": init.angle_last_data.mean(),
            "ratio_init": init.ratio_last.mean(),
            "ratio_trained": trained.ratio_last.mean(),
            "accuracy": trained.test_accuracy.mean(),
        }
    ).dropna(subset=["angle_init"])
    if len(table) < 3:
        raise NotRun("B5 needs trained draws of at least three networks")
    filled = table.fillna(-np.inf)  # a network whose features broke ranks last
    rho_ratio = float(spearmanr(filled.angle_init, filled.ratio_trained).statistic)
    rho_acc = float(spearmanr(filled.angle_init, filled.accuracy).statistic)
    good = [rho_ratio > 0, rho_acc > 0]
    status = grade(good)
    rows = ", ".join(
        f"{a}: angle@L {r.angle_init:.3g}, ratio {r.ratio_init:.3g}->{r.ratio_trained:.3g}, "
        f"acc {r.accuracy:.3f}"
        for a, r in table.sort_values("angle_init", kind="stable").iterrows()
    )
    text = (
        f"{rows}; Spearman(init angle, trained ratio) {rho_ratio:.2f}, (init angle, test acc) "
        f"{rho_acc:.2f}"
    )
    return Verdict(status, text, _scale(results_dir, TRAINED_EXP, "draws"), TRAINED_FIGURE)

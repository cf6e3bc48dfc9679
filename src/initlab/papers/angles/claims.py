"""Verdict rules for B1-B5 (skip connections and BatchNorm keep inputs apart) and C1.

Inputs: ``angles.csv`` / ``draws.csv`` collected from ``task=angles`` runs (column ``arch``:
``mlp``, ``resnet``, ``resnet_bn``, ``resnet_fixup``).

Law fits (:mod:`initlab.analysis.laws`) of the draw-averaged angle and of 1 - cosine against the
layer index l = 1..L: an exponential law (log y linear in l) against a power law (log y linear in
log l); the law with the smaller RMSE of log y wins. The deciding curve is the pair set of the
smallest initial cosine (the most different inputs: the longest way to fall); the other pair sets
and the random data pairs are counted and reported next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from initlab.analysis.laws import LawFit, fit_law
from initlab.claims.registry import NotRun, Verdict, evaluator, grade
from initlab.claims.registry import read_table as _read_table

ANGLES_EXP = "b1_b3_angles"
RATIO_EXP = "b4_distance_ratio"
TRAINED_EXP = "b5_trained_ratio"
ANGLE_FIGURE = f"{ANGLES_EXP}/angle_vs_layer.png"
ARCH_FIGURE = f"{ANGLES_EXP}/angle_by_arch.png"
RATIO_FIGURE = f"{RATIO_EXP}/ratio_vs_layer.png"
TRAINED_FIGURE = f"{TRAINED_EXP}/ratio_before_after.png"

#: B3: "about 1/l" accepts a fitted power-law exponent of the angle within this distance of -1.
RECIPROCAL_TOL = 0.25


def read_table(results_dir: Path, experiment: str, table: str) -> pd.DataFrame:
    """A collected table with only the rows of completed runs."""
    return _read_table(results_dir, experiment, table)


def pair_curves(angles: pd.DataFrame, arch: str, stage: str = "init") -> dict[str, pd.DataFrame]:
    """Per pair set (``cos0=<c>`` for synthetic pairs, ``data``): layer-indexed draw means of
    angle_mean, one_minus_cos_mean, theory_angle, theory_cos, cos_mean; ordered by initial
    cosine (data last)."""
    rows = angles[(angles.arch == arch) & (angles.stage == stage) & angles.cos_mean.notna()]
    if rows.empty:
        raise NotRun(f"no {stage} angle rows for {arch}")
    curves = {}
    synth = rows[rows.inputs == "synthetic"]
    for cos0, part in sorted(synth.groupby(synth.cos0.round(6)), key=lambda kv: kv[0]):
        curves[f"cos0={cos0:g}"] = _mean_curve(part)
    data = rows[rows.inputs == "data"]
    if not data.empty:
        curves["data"] = _mean_curve(data)
    return curves


def _mean_curve(rows: pd.DataFrame) -> pd.DataFrame:
    columns = ["angle_mean", "one_minus_cos_mean", "theory_angle", "theory_cos", "cos_mean"]
    return rows.groupby("layer")[columns].mean().sort_index()


@dataclass(frozen=True)
class CurveFit:
    """Exponential vs power-law fits of one curve's angle and 1 - cosine over layers >= 1."""

    angle_exp: LawFit
    angle_pow: LawFit
    omc_exp: LawFit
    omc_pow: LawFit
    first: float  # angle at layer 1
    last: float  # angle at the last layer

    @property
    def angle_law(self) -> str:
        return "exponential" if self.angle_exp.rmse_log < self.angle_pow.rmse_log else "power"

    @property
    def omc_law(self) -> str:
        return "exponential" if self.omc_exp.rmse_log < self.omc_pow.rmse_log else "power"

    @property
    def decreasing(self) -> bool:
        return self.last < self.first

    def describe(self) -> str:
        return (
            f"angle {self.first:.3g}->{self.last:.3g} rad; angle: exp rate "
            f"{self.angle_exp.params['rate']:.3g}/layer (R2 {self.angle_exp.r2_log:.3f}, "
            f"rmse {self.angle_exp.rmse_log:.3g}) vs power exponent "
            f"{self.angle_pow.params['exponent']:.3g} (R2 {self.angle_pow.r2_log:.3f}, rmse "
            f"{self.angle_pow.rmse_log:.3g}); 1-cos: exp rmse {self.omc_exp.rmse_log:.3g} vs "
            f"power exponent {self.omc_pow.params['exponent']:.3g} rmse {self.omc_pow.rmse_log:.3g}"
        )


def fit_curve(curve: pd.DataFrame) -> CurveFit:
    part = curve[curve.index >= 1]
    layers = part.index.to_numpy(dtype=float)
    angle = part.angle_mean.to_numpy()
    omc = np.clip(part.one_minus_cos_mean.to_numpy(), np.finfo(float).tiny, None)
    return CurveFit(
        fit_law("exponential", layers, angle),
        fit_law("power", layers, angle),
        fit_law("exponential", layers, omc),
        fit_law("power", layers, omc),
        float(angle[0]),
        float(angle[-1]),
    )


def _fits(results_dir: Path, arch: str) -> tuple[str, CurveFit, dict[str, CurveFit]]:
    curves = pair_curves(read_table(results_dir, ANGLES_EXP, "angles"), arch)
    fits = {name: fit_curve(c) for name, c in curves.items()}
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
        f"MLP pairs {name}: {fit.describe()}; angle best fit {law}, 1-cos best fit "
        f"{fit.omc_law} ({_agreeing(fits, name, law)})"
    )
    if curve.theory_angle.notna().all():
        text += (
            f"; arc-cosine theory at layer {curve.index.max()}: "
            f"{curve.theory_angle.iloc[-1]:.3g} rad (its tail is ~3 pi / l, a power law)"
        )
    return ("mixed" if law != fit.omc_law else law), text


@evaluator("B1", experiment=ANGLES_EXP)
def b1_mlp_exponential(results_dir: Path, profile: str) -> Verdict:
    law, text = _b1(results_dir)
    status = {"exponential": "reproduced", "power": "not reproduced"}.get(law, "partly")
    return Verdict(status, text, _scale(results_dir, ANGLES_EXP), ANGLE_FIGURE)


@evaluator("B2", experiment=ANGLES_EXP)
def b2_resnet_subexponential(results_dir: Path, profile: str) -> Verdict:
    name, res, fits = _fits(results_dir, "resnet")
    _, mlp, _ = _fits(results_dir, "mlp")
    sub = res.decreasing and res.angle_law == "power"
    slower = res.last > mlp.last
    status = grade([sub, slower])
    text = (
        f"ResNet pairs {name}: {res.describe()}; decreasing {res.decreasing}, best fit "
        f"{res.angle_law} ({_agreeing(fits, name, res.angle_law)}); last-layer angle "
        f"{res.last:.3g} vs MLP {mlp.last:.3g} (slower: {slower}; the MLP's own best fit is "
        f"{mlp.angle_law})"
    )
    return Verdict(status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE)


def _b3(results_dir: Path) -> tuple[bool, bool, str]:
    """(reciprocal decrease, slower than the ResNet, measured text)."""
    name, bn, fits = _fits(results_dir, "resnet_bn")
    _, res, _ = _fits(results_dir, "resnet")
    exponent = bn.angle_pow.params["exponent"]
    reciprocal = bn.decreasing and bn.angle_law == "power" and abs(exponent + 1.0) <= RECIPROCAL_TOL
    slower = bn.last > res.last
    text = (
        f"ResNet+BN pairs {name}: {bn.describe()}; decreasing {bn.decreasing}, best fit "
        f"{bn.angle_law}, angle exponent {exponent:.3g} (1/l needs -1 +- {RECIPROCAL_TOL}: "
        f"{reciprocal}); data pairs angle exponent "
        f"{fits['data'].angle_pow.params['exponent']:.3g}; other pair sets layer 1->L: "
        + ", ".join(f"{n} {f.first:.3g}->{f.last:.3g}" for n, f in fits.items() if n != name)
        + f"; last-layer angle {bn.last:.3g} vs "
        f"ResNet {res.last:.3g} (slower: {slower})"
        if "data" in fits
        else f"ResNet+BN pairs {name}: {bn.describe()}; 1/l: {reciprocal}; slower: {slower}"
    )
    return reciprocal, slower, text


@evaluator("B3", experiment=ANGLES_EXP)
def b3_bn_reciprocal(results_dir: Path, profile: str) -> Verdict:
    reciprocal, slower, text = _b3(results_dir)
    status = grade([reciprocal, slower])
    return Verdict(status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE)


@evaluator("C1", experiment=ANGLES_EXP)
def c1_angles(results_dir: Path, profile: str) -> Verdict:
    law, _ = _b1(results_dir)
    reciprocal, _, _ = _b3(results_dir)
    _, mlp, _ = _fits(results_dir, "mlp")
    _, bn, _ = _fits(results_dir, "resnet_bn")
    exponential = law == "exponential"
    status = grade([exponential, reciprocal])
    text = (
        f"MLP angle best fit {mlp.angle_law} (exp rmse {mlp.angle_exp.rmse_log:.3g}, power "
        f"exponent {mlp.angle_pow.params['exponent']:.3g} rmse {mlp.angle_pow.rmse_log:.3g}); "
        f"ResNet+BN angle {bn.first:.3g}->{bn.last:.3g} rad, power exponent "
        f"{bn.angle_pow.params['exponent']:.3g} (1/l: {reciprocal})"
    )
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
            c = c.sort_values("layer")
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
        for a, r in table.sort_values("angle_init").iterrows()
    )
    text = (
        f"{rows}; Spearman(init angle, trained ratio) {rho_ratio:.2f}, (init angle, test acc) "
        f"{rho_acc:.2f}"
    )
    return Verdict(status, text, _scale(results_dir, TRAINED_EXP, "draws"), TRAINED_FIGURE)

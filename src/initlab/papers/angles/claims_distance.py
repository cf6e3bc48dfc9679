"""Verdict rules for B4 and B5 (class distances through depth at initialization, and after
training), moved out of :mod:`initlab.papers.angles.claims` (B1-B3) unchanged.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from scipy.stats import spearmanr

from initlab.analysis.laws import LEVEL, Estimate, replicate_interval
from initlab.claims.decide import needs_text, replicates_needed_for
from initlab.claims.registry import (
    CONTRADICTED,
    INCONCLUSIVE,
    PARTLY,
    REPRODUCED,
    Check,
    NotRun,
    Verdict,
    evaluator,
    grade,
)
from initlab.papers.angles.claims import _fit_line, _scale, _short_scale, read_table

RATIO_EXP = "b4_distance_ratio"
TRAINED_EXP = "b5_trained_ratio"
RATIO_FIGURE = f"{RATIO_EXP}/ratio_vs_layer.png"
TRAINED_FIGURE = f"{TRAINED_EXP}/ratio_before_after.png"


def ratio_curves(angles: pd.DataFrame, stage: str = "init") -> pd.DataFrame:
    """Draw-averaged between/within ratio per (data, arch, layer) from the data rows."""
    rows = angles[(angles.inputs == "data") & (angles.stage == stage)]
    keys = ["data_name", "arch", "layer"]
    per_draw = rows.groupby([*keys, "draw"]).ratio.first().reset_index()
    return per_draw.groupby(keys).ratio.mean().reset_index()


def draw_changes(angles: pd.DataFrame, stage: str = "init") -> pd.DataFrame:
    """Per (data, arch, draw): the between/within ratio at the last layer over the input's."""
    rows = angles[(angles.inputs == "data") & (angles.stage == stage)]
    per = rows.groupby(["data_name", "arch", "draw", "layer"]).ratio.first().reset_index()
    per = per.sort_values("layer", kind="stable")
    ends = per.groupby(["data_name", "arch", "draw"]).ratio.agg(["first", "last"])
    return (ends["last"] / ends["first"]).rename("change").reset_index()


def _welch(a: np.ndarray, b: np.ndarray) -> Estimate | None:
    """mean(a) - mean(b) with its 95% Welch t interval; None with fewer than 2 of either."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    diff = float(a.mean() - b.mean())
    if se == 0:
        return Estimate(diff, diff, diff, "Welch t interval over draws")
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(scipy_stats.t.ppf(0.5 + LEVEL / 2, dof)) * se
    return Estimate(diff, diff - half, diff + half, "95% Welch t interval over draws")


@evaluator("B4", experiment=RATIO_EXP)
def b4_ratio(results_dir: Path, profile: str) -> Verdict:
    """The between/within distance ratio, last layer over input (draw-averaged curves):

    - reproduced: the MLP's ratio falls on every data set and the ResNet's and ResNet+BN's end
      above the MLP's on every data set;
    - partly: the MLP's falls somewhere and skip/BN end above it somewhere;
    - contradicted: otherwise, when the draws decide the opposite (95% Welch t intervals over
      draws of the per-draw change): skip/BN's change minus the MLP's below 0 in every
      comparison, or the MLP's change above 1 on every data set;
    - inconclusive: otherwise (the verdict says how many draws would decide, were the mean and
      spread of the differences what they are).
    """
    table = read_table(results_dir, RATIO_EXP, "angles")
    curves = ratio_curves(table)
    per_draw = draw_changes(table)
    parts, mlp_worsens, relieved, checks = [], [], 0, 0
    worse, mlp_rises, needed, diffs = [], [], [], []
    for data, part in curves.groupby("data_name"):
        change = {}
        for arch, c in part.groupby("arch"):
            c = c.sort_values("layer", kind="stable")
            change[arch] = float(c.ratio.iloc[-1] / c.ratio.iloc[0])
        if "mlp" not in change:
            raise NotRun(f"no MLP ratio rows for {data}")
        mlp = change["mlp"]
        mlp_worsens.append(mlp < 1.0)
        draws = per_draw[per_draw.data_name == data]
        mlp_draws = draws[draws.arch == "mlp"].change.to_numpy(float)
        rise = replicate_interval(mlp_draws, what="draws") if len(mlp_draws) else None
        mlp_rises.append(rise is not None and rise.above(1.0))
        for arch in ("resnet", "resnet_bn"):
            if arch in change:
                checks += 1
                relieved += change[arch] > mlp
                diff = _welch(draws[draws.arch == arch].change.to_numpy(float), mlp_draws)
                worse.append(diff is not None and diff.below(0.0))
                if diff is not None:
                    diffs.append(f"{data} {arch} - mlp {diff.text()}")
                    n = min(len(mlp_draws), int((draws.arch == arch).sum()))
                    needed.append(replicates_needed_for(diff, n))
        parts.append(
            f"{data}: ratio last/input " + ", ".join(f"{a} {v:.3g}" for a, v in change.items())
        )
    if all(mlp_worsens) and checks and relieved == checks:
        status = REPRODUCED
    elif any(mlp_worsens) and relieved > 0:
        status = PARTLY
    elif (worse and all(worse)) or all(mlp_rises):
        status = CONTRADICTED
    else:
        status = INCONCLUSIVE
    text = (
        "; ".join(parts)
        + f"; MLP worsens on {sum(mlp_worsens)}/{len(mlp_worsens)} data sets, skip/BN above MLP "
        f"in {relieved}/{checks}"
        + (f"; per-draw change differences (95% Welch t): {', '.join(diffs)}" if diffs else "")
    )
    summary = (
        f"MLP ratio falls on {sum(mlp_worsens)}/{len(mlp_worsens)} data sets; skip/BN above MLP "
        f"{relieved}/{checks}; skip/BN below MLP decided in {sum(worse)}/{len(worse)}"
    )
    if status == INCONCLUSIVE:
        known = [n for n in needed if n is not None]
        summary += "; " + needs_text(max(known) if known else None, "draws")
    summary += f"; {_short_scale(results_dir, RATIO_EXP)}"
    return Verdict(
        status,
        text,
        _scale(results_dir, RATIO_EXP),
        RATIO_FIGURE,
        summary=_fit_line(summary),
    )


def exact_spearman_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided exact permutation p of Spearman's rho (every ordering of y; up to 8 values,
    else scipy's t approximation)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(spearmanr(x, y).statistic)
    if len(x) > 8:
        return float(spearmanr(x, y).pvalue)
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    perms = np.array(list(itertools.permutations(ry)))
    cx = rx - rx.mean()
    cp = perms - perms.mean(axis=1, keepdims=True)
    denom = np.sqrt((cx**2).sum() * (cp**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = (cp @ cx) / denom
    rhos = np.nan_to_num(rhos)
    return float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def smallest_exact_p(n: int) -> float:
    """The smallest two-sided exact Spearman p with n values (a perfect ranking): 2 / n!."""
    return 2.0 / math.factorial(n) if n > 1 else 1.0


def networks_needed(alpha: float = 0.05) -> int:
    """The fewest networks whose exact Spearman test can reach p < alpha."""
    n = 2
    while smallest_exact_p(n) >= alpha:
        n += 1
    return n


@evaluator("B5", experiment=TRAINED_EXP)
def b5_trained_ratio(results_dir: Path, profile: str) -> Verdict:
    """Spearman's rho over networks of the init angle (last layer, data pairs) against the
    trained ratio and against test accuracy, each with its exact two-sided permutation p:

    - each check holds when rho > 0; is against when rho < 0 with p < 0.05; else open;
    - both hold: reproduced; one: partly; none: contradicted if one is against, else
      inconclusive (with n networks the exact test cannot go below 2 / n!: the verdict names
      the networks that would let it reach 0.05).
    """
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
    p_ratio = exact_spearman_p(filled.angle_init, filled.ratio_trained)
    p_acc = exact_spearman_p(filled.angle_init, filled.accuracy)
    alpha = 0.05
    good = [
        Check.of(rho_ratio > 0, rho_ratio < 0 and p_ratio < alpha),
        Check.of(rho_acc > 0, rho_acc < 0 and p_acc < alpha),
    ]
    status = grade(good)
    rows = ", ".join(
        f"{a}: angle@L {r.angle_init:.3g}, ratio {r.ratio_init:.3g}->{r.ratio_trained:.3g}, "
        f"acc {r.accuracy:.3f}"
        for a, r in table.sort_values("angle_init", kind="stable").iterrows()
    )
    n = len(table)
    text = (
        f"{rows}; Spearman(init angle, trained ratio) {rho_ratio:.2f} (exact p {p_ratio:.2g}), "
        f"(init angle, test acc) {rho_acc:.2f} (exact p {p_acc:.2g}); with {n} networks the "
        f"exact test cannot go below p = {smallest_exact_p(n):.2g}"
    )
    summary = (
        f"Spearman init angle vs trained ratio {rho_ratio:.2f} (p {p_ratio:.2g}), vs acc "
        f"{rho_acc:.2f} (p {p_acc:.2g}); {n} nets: p >= {smallest_exact_p(n):.2g}"
    )
    if smallest_exact_p(n) >= alpha:
        summary += f", needs >= {networks_needed(alpha)} nets"
    return Verdict(
        status,
        text,
        _scale(results_dir, TRAINED_EXP, "draws"),
        TRAINED_FIGURE,
        summary=_fit_line(summary),
    )

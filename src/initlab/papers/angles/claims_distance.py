"""Verdict rules for B4 and B5 (class distances through depth at initialization, and after
training); B1-B3 are in :mod:`initlab.papers.angles.claims`.

**B4 reads the depth profile, not one layer.** Per draw (one network, one data set), the ratio
r_l = between-class / within-class mean distance of the features at layer (block) l, l = 0 the
input, gives the profile's *area*

    A = 1 / (L - 1) * integral from l = 1 to L of log(r_l / r_0) dl,

by the trapezoid rule over the layers the table holds (every layer, or log-spaced ones: the B4
quick experiment writes layers 0-10, then 16 per decade; the trapezoid weighs each stretch of
depth by its length, so the sparse deep layers count for the depth they span). A < 0: the classes
end up, over depth, less apart relative to their spread than in the input (the ratio "worsens");
A = 0 for a network that keeps the input's ratio. Intervals are 95% t intervals over draws (the
layers of one draw are not independent), differences between networks 95% Welch t intervals.
The same area over the first tenth of the depth ("early") and over its second half ("late"), and
log r_L / r_0, are reported beside it, not decided on.

**B5 tests an association over networks.** Per network (an ``arm`` at one depth: MLP, ResNets
with He, scaled branches, Fixup, scale norm, BatchNorm variants; mean over its draws): the angle
of data pairs at the last hidden layer at init ("preserves angles": keeps inputs apart), and after
training the between/within ratio at the last hidden layer and the test accuracy. Spearman's rho
over networks (the draws of a network averaged first: networks, not draws, are the units) with
its two-sided permutation p (every ordering up to 8 networks, else 100,000 random orderings
with a fixed seed). A network whose
forward second moment at init grows more than :data:`EXPLODES` fold from the input to the last
layer (the He ResNet without normalization: 3^L) fails to train for that reason, not for its
angles: the test runs over the other networks, and the test over all of them is reported beside.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from scipy.stats import spearmanr

from initlab.analysis.laws import Estimate, replicate_interval
from initlab.claims.decide import fit_line, needs_text, replicates_needed_for
from initlab.claims.registry import (
    AGAINST,
    INCONCLUSIVE,
    OPEN,
    SUMMARY_MAX,
    Check,
    NotRun,
    Verdict,
    evaluator,
    grade,
    read_table,
)
from initlab.papers.angles.claims import welch  # one Welch interval for paper B

RATIO_EXP = "b4_distance_ratio"
TRAINED_EXP = "b5_trained_ratio"
RATIO_FIGURE = f"{RATIO_EXP}/ratio_vs_layer.png"
TRAINED_FIGURE = f"{TRAINED_EXP}/ratio_before_after.png"

#: B4: the networks the claim names beside the MLP ("skip and BN relieve this")
RELIEVING = ("resnet", "resnet_bn")
#: B4: data set names in the summary line
SHORT_NAMES = {"digits_flat": "digits", "mnist_subset_flat": "MNIST"}
#: B4: the first part of the depth whose area is reported beside the whole one (fraction of L)
EARLY = 0.1
#: B5: a network whose forward second moment at init grows more than this many fold from the
#: input to the last hidden layer is left out of the association test (its training fails by
#: that explosion); in the quick sweep the He ResNets grow 1.2e4 (8 blocks) and 1.5e15 (32), the
#: others at most 69 (BatchNorm and scale norm, 32 blocks): any threshold between splits alike
EXPLODES = 1e3
#: B5: the level of the exact Spearman test
ALPHA = 0.05


# --- B4 -------------------------------------------------------------------------------------


def ratio_curves(angles: pd.DataFrame, stage: str = "init") -> pd.DataFrame:
    """Draw-averaged between/within ratio per (data, arch, layer) from the data rows."""
    per_draw = ratio_profiles(angles, stage)
    keys = ["data_name", "arch", "layer"]
    return per_draw.groupby(keys).ratio.mean().reset_index()


def ratio_profiles(angles: pd.DataFrame, stage: str = "init") -> pd.DataFrame:
    """One row per (data, arch, draw, layer): the ratio and log(r_l / r_0), layers sorted."""
    rows = angles[(angles.inputs == "data") & (angles.stage == stage)]
    keys = ["data_name", "arch", "draw", "layer"]
    per = rows.groupby(keys).ratio.first().reset_index().sort_values(keys, kind="stable")
    first = per.groupby(["data_name", "arch", "draw"]).ratio.transform("first")
    return per.assign(log_rel=np.log(per.ratio / first))


def _area(layers: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Mean of y over [lo, hi] by the trapezoid rule on the points inside it."""
    inside = (layers >= lo) & (layers <= hi)
    x, v = layers[inside], y[inside]
    if len(x) < 2:
        return float(v.mean()) if len(v) else np.nan
    return float(np.sum((v[1:] + v[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def profile_areas(angles: pd.DataFrame, stage: str = "init") -> pd.DataFrame:
    """Per (data, arch, draw): ``area`` (module doc: the trapezoid mean of log r_l / r_0 over
    l in [1, L]), ``early`` (over [1, max(2, L/10)]), ``late`` (over [L/2, L]), ``last``
    (log r_L / r_0)."""
    per = ratio_profiles(angles, stage)
    per = per[per.layer >= 1]
    out = []
    for (data, arch, draw), part in per.groupby(["data_name", "arch", "draw"], sort=True):
        layers, y = part.layer.to_numpy(float), part.log_rel.to_numpy(float)
        depth = layers.max()
        out.append(
            (
                data,
                arch,
                draw,
                _area(layers, y, 1.0, depth),
                _area(layers, y, 1.0, max(2.0, EARLY * depth)),
                _area(layers, y, depth / 2, depth),
                y[-1],
            )
        )
    columns = ["data_name", "arch", "draw", "area", "early", "late", "last"]
    return pd.DataFrame(out, columns=columns)


def _tight(estimate: Estimate) -> str:
    """``v [lo,hi]`` to 2 significant digits (the summary line's compact form)."""
    return f"{estimate.value:.2g} [{estimate.lo:.2g},{estimate.hi:.2g}]"


def _draws_text(areas: pd.DataFrame) -> str:
    draws = areas.groupby(["data_name", "arch"]).draw.nunique()
    return f"{draws.min()}" if draws.min() == draws.max() else f"{draws.min()}-{draws.max()}"


def _b4_scale(table: pd.DataFrame, areas: pd.DataFrame) -> tuple[str, str]:
    """(short scale for the summary, long scale for the section)."""
    depth, width = int(table.depth.max()), int(table.width.max())
    layers = table[table.inputs == "data"].groupby(["data_name", "arch"]).layer.nunique().min() - 1
    data = ",".join(sorted(table.data_name.astype(str).unique()))
    draws = _draws_text(areas)
    long = (
        f"depth {depth}, width {width}, {draws} draws per network and data set, statistics at "
        f"{layers} layers/blocks, data {data}"
    )
    return f"L={depth}, w={width}, {draws} draws", long


@evaluator("B4", experiment=RATIO_EXP)
def b4_ratio(results_dir: Path, profile: str) -> Verdict:
    """The profile's area A (module doc), per data set, 95% intervals over draws:

    - "the MLP's ratio worsens": holds when the MLP's A lies below 0 (its interval); against
      when it lies above 0 (the ratio grows on average over depth);
    - "skip and BN relieve this": for the ResNet and ResNet + BN (:data:`RELIEVING`), holds when
      A(network) - A(MLP) lies above 0 (Welch interval); against when it lies below 0 (they
      worsen it more than the MLP).

    All checks (2 per data set for the relief, 1 for the MLP) hold: reproduced; some: partly;
    none: contradicted when one is against (the summary names the areas found), else
    inconclusive: the summary says how many draws would decide the closest interval, were the
    means and spreads what they are. It would fail (contradicted) were the MLP's area above 0 or
    the ResNet's and BN's below the MLP's, with intervals excluding 0.
    """
    table = read_table(results_dir, RATIO_EXP, "angles")
    areas = profile_areas(table)
    checks, parts, needed = [], [], []
    found: dict[str, list[str]] = {}  # per data set, the summary's numbers
    decided: dict[str, int] = {}  # per data set, the checks held or against
    for data, part in areas.groupby("data_name", sort=True):
        first_check = len(checks)
        by_arch = {a: p for a, p in part.groupby("arch", sort=True)}
        if "mlp" not in by_arch:
            raise NotRun(f"no MLP ratio rows for {data}")
        mlp = by_arch["mlp"]
        mlp_area = replicate_interval(mlp.area.to_numpy(float), what="draws")
        checks.append(Check.of(mlp_area.below(0.0), mlp_area.above(0.0)))
        found[data] = [f"MLP {_tight(mlp_area)}"]
        if checks[-1].outcome == OPEN:
            needed.append(replicates_needed_for(mlp_area, len(mlp)))
        described = []
        for arch, rows in by_arch.items():
            area = replicate_interval(rows.area.to_numpy(float), what="draws")
            early = replicate_interval(rows.early.to_numpy(float), what="draws")
            late = replicate_interval(rows.late.to_numpy(float), what="draws")
            text = (
                f"{arch} area {area.text()}, first {EARLY:.0%} {early.text()}, second half "
                f"{late.text()}, last log r_L/r_0 {rows['last'].mean():.3g}"
            )
            if arch != "mlp":
                diff = welch(rows.area.to_numpy(float), mlp.area.to_numpy(float))
                if diff is not None:
                    text += f"; minus MLP {diff.text()}"
                if arch in RELIEVING and diff is None:
                    checks.append(Check.of(False, False))
                elif arch in RELIEVING:
                    checks.append(Check.of(diff.above(0.0), diff.below(0.0)))
                    name = "BN" if arch == "resnet_bn" else "ResNet"
                    found[data].append(f"{name}-MLP {_tight(diff)}")
                    if checks[-1].outcome == OPEN:
                        needed.append(replicates_needed_for(diff, min(len(rows), len(mlp))))
            described.append(text)
        decided[data] = sum(c.outcome != OPEN for c in checks[first_check:])
        r0 = float(table[(table.data_name == data) & (table.layer == 0)].ratio.mean())
        parts.append(f"{data} (input ratio {r0:.3g}): " + "; ".join(described))
    if not any(arch in set(areas.arch) for arch in RELIEVING):
        raise NotRun("no ResNet or ResNet + BN ratio rows")
    status = grade(checks)
    held = sum(c.held for c in checks)
    against = sum(c.outcome == AGAINST for c in checks)
    short_scale, scale = _b4_scale(table, areas)
    sets = sorted(areas.data_name.unique())
    text = (
        "Area = trapezoid mean over layers 1..L of log(r_l / r_0), r = between/within class "
        "distance (95% t over draws; differences: Welch). "
        + " | ".join(parts)
        + f" | checks held {held}/{len(checks)}, against {against}/{len(checks)}"
    )
    # summary: the numbers of the data set with the most checks decided (the first sorted of
    # those), the checks over all of them
    shown = max(sets, key=lambda d: decided[d])
    parts = [f"{SHORT_NAMES.get(shown, shown)}: " + ", ".join(found[shown])]
    if status == INCONCLUSIVE:
        known = [n for n in needed if n is not None]
        parts.append(needs_text(max(known) if known else None, "draws"))
    summary = "; ".join([*parts, f"{held}/{len(checks)} held, {against} against", short_scale])
    if len(summary) > SUMMARY_MAX:  # the counts shorter before fit_line drops them
        summary = "; ".join([*parts, f"{held}/{len(checks)} held", short_scale])
    return Verdict(status, text, scale, RATIO_FIGURE, summary=fit_line(summary))


# --- B5 -------------------------------------------------------------------------------------


#: B5: random orderings of the permutation test above :data:`EXACT_UP_TO` networks
PERMUTATIONS = 100_000
#: B5: up to this many networks the permutation test enumerates every ordering
EXACT_UP_TO = 8


def spearman_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided permutation p of Spearman's rho: exact (every ordering of y) up to
    :data:`EXACT_UP_TO` values, else from :data:`PERMUTATIONS` random orderings drawn with a
    fixed seed, (hits + 1) / (orderings + 1)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    cx = rx - rx.mean()
    if len(x) <= EXACT_UP_TO:
        perms = np.array(list(itertools.permutations(ry)))
    else:
        rng = np.random.default_rng(0)
        perms = rng.permuted(np.tile(ry, (PERMUTATIONS, 1)), axis=1)
    cp = perms - perms.mean(axis=1, keepdims=True)
    denom = np.sqrt((cx**2).sum() * (cp**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = np.nan_to_num((cp @ cx) / denom)
    rho = float(spearmanr(x, y).statistic)
    hits = int(np.sum(np.abs(rhos) >= abs(rho) - 1e-12))
    if len(x) <= EXACT_UP_TO:
        return hits / len(perms)
    return (hits + 1) / (len(perms) + 1)


def p_method(n: int) -> str:
    """How :func:`spearman_p` computes p for ``n`` networks."""
    return "exact p" if n <= EXACT_UP_TO else f"permutation p, {PERMUTATIONS:,} orderings"


def smallest_exact_p(n: int) -> float:
    """The smallest two-sided p :func:`spearman_p` can give with n values (a perfect ranking):
    2 / n! where it enumerates, 1 / (orderings + 1) where it samples."""
    if n > EXACT_UP_TO:
        return max(2.0 / math.factorial(n), 1.0 / (PERMUTATIONS + 1))
    return 2.0 / math.factorial(n) if n > 1 else 1.0


def networks_needed(alpha: float = ALPHA) -> int:
    """The fewest networks whose exact Spearman test can reach p < alpha."""
    n = 2
    while smallest_exact_p(n) >= alpha:
        n += 1
    return n


def networks_for_rho(rho: float, alpha: float = ALPHA) -> int | None:
    """The fewest networks at which Spearman's rho, were it what it is, would reach p < alpha
    (t approximation: t = rho sqrt((n - 2) / (1 - rho^2)) on n - 2 degrees of freedom; a
    projection, not a power analysis); None for rho 0 or beyond 10,000."""
    if not np.isfinite(rho) or rho == 0:
        return None
    if abs(rho) >= 1:
        return networks_needed(alpha)
    for n in range(4, 10_001):
        t = abs(rho) * math.sqrt((n - 2) / (1 - rho**2))
        if 2 * scipy_stats.t.sf(t, n - 2) < alpha:
            return n
    return None


@dataclass(frozen=True)
class Association:
    """Spearman's rho over networks with its permutation p (:func:`spearman_p`)."""

    rho: float
    p: float
    n: int

    @classmethod
    def of(cls, x: pd.Series, y: pd.Series) -> Association:
        x, y = x.fillna(-np.inf), y.fillna(-np.inf)  # a network whose features broke ranks last
        if len(x) < 3:
            return cls(np.nan, 1.0, len(x))
        return cls(float(spearmanr(x, y).statistic), spearman_p(x, y), len(x))

    def check(self) -> Check:
        """holds: rho > 0 at p < ALPHA; against: rho < 0 at p < ALPHA; else open."""
        sure = self.p < ALPHA
        return Check.of(sure and self.rho > 0, sure and self.rho < 0)

    def text(self) -> str:
        return f"rho {self.rho:.2f} ({p_method(self.n)} {self.p:.2g}, {self.n} nets)"

    def short(self) -> str:
        return f"{self.rho:.2f} (p {self.p:.2g})"


def network_table(results_dir: Path) -> pd.DataFrame:
    """:func:`networks_of` the B5 experiment's ``draws.csv`` and ``angles.csv``."""
    draws = read_table(results_dir, TRAINED_EXP, "draws")
    try:
        angles = read_table(results_dir, TRAINED_EXP, "angles")
    except NotRun:
        angles = None
    return networks_of(draws, angles)


def network_names(frame: pd.DataFrame) -> pd.Series:
    """Each row's network: its arm (``angles_`` dropped; the arch where no arm column) and, where
    the frame holds several depths, ``L=<depth>``."""
    base = frame["arm"] if "arm" in frame.columns else frame["arch"]
    base = base.astype(str).str.removeprefix("angles_")
    if frame["depth"].nunique() > 1:
        return base + " L=" + frame["depth"].astype(int).astype(str)
    return base


def networks_of(draws: pd.DataFrame, angles: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per network (:func:`network_names`; its draws averaged), sorted by init angle: init
    angle and ratio, trained ratio and accuracy with their s.d. over draws, the number of draws,
    and ``growth`` (the forward second moment at the last layer over the input's, at init, data
    inputs, from ``angles``; NaN without it)."""
    draws = draws.assign(network=network_names(draws))
    init = draws[draws.stage == "init"].groupby("network")
    trained = draws[draws.stage == "trained"].groupby("network")
    table = pd.DataFrame(
        {
            "arch": init.arch.first(),
            "depth": init.depth.first(),
            "angle_init": init.angle_last_data.mean(),
            "ratio_init": init.ratio_last.mean(),
            "ratio_trained": trained.ratio_last.mean(),
            "ratio_trained_sd": trained.ratio_last.std(),
            "accuracy": trained.test_accuracy.mean(),
            "accuracy_sd": trained.test_accuracy.std(),
            "draws": trained.draw.nunique(),
        }
    ).dropna(subset=["angle_init"])
    table["growth"] = np.nan
    if angles is not None:
        rows = angles[(angles.stage == "init") & (angles.inputs == "data")]
        rows = rows.assign(network=network_names(rows))
        for name, part in rows.groupby("network"):
            moments = part.groupby("layer").second_moment.mean().sort_index()
            if name in table.index and len(moments) > 1:
                table.loc[name, "growth"] = float(moments.iloc[-1] / moments.iloc[0])
    return table.sort_values("angle_init", kind="stable")


@evaluator("B5", experiment=TRAINED_EXP)
def b5_trained_ratio(results_dir: Path, profile: str) -> Verdict:
    """Spearman's rho over the networks whose forward variance stays bounded (module doc) of
    the init angle (last hidden layer, data pairs) against the trained ratio and against test
    accuracy, each with its two-sided permutation p (:func:`spearman_p`):

    - each check holds when rho > 0 with p < ALPHA; is against when rho < 0 with p < ALPHA;
      else open;
    - both hold: reproduced; one: partly; none: contradicted if one is against (the negative
      rho named), else inconclusive (with n networks the exact test cannot go below 2 / n!: the
      verdict names the networks that would let it reach ALPHA). It would fail (contradicted)
      were networks keeping larger angles ranked lower in trained ratio or accuracy at p < 0.05.
    """
    table = network_table(results_dir)
    if len(table) < 3:
        raise NotRun("B5 needs trained draws of at least three networks")
    bounded = table[~(table.growth > EXPLODES)]
    left_out = [str(n) for n in table.index if n not in bounded.index]
    ratio = Association.of(bounded.angle_init, bounded.ratio_trained)
    acc = Association.of(bounded.angle_init, bounded.accuracy)
    ratio_all = Association.of(table.angle_init, table.ratio_trained)
    acc_all = Association.of(table.angle_init, table.accuracy)
    status = grade([ratio.check(), acc.check()])
    rows = "; ".join(
        f"{name}: angle@L {r.angle_init:.3g}, ratio {r.ratio_init:.3g}->{r.ratio_trained:.3g} "
        f"(sd {r.ratio_trained_sd:.2g}), acc {r.accuracy:.3f} (sd {r.accuracy_sd:.2g})"
        + (f", second moment x{r.growth:.3g} input->L" if np.isfinite(r.growth) else "")
        for name, r in table.iterrows()
    )
    n = len(bounded)
    out = (
        f" (left out: {', '.join(left_out)}: forward second moment > {EXPLODES:g}x)"
        if left_out
        else ""
    )
    text = (
        f"{rows}. Spearman over {n} variance-bounded networks{out}, init angle vs trained ratio "
        f"{ratio.text()}, vs test accuracy {acc.text()}; over all {len(table)}: vs trained ratio "
        f"{ratio_all.text()}, vs accuracy {acc_all.text()}; with {n} networks the exact test "
        f"cannot go below p = {smallest_exact_p(n):.2g} ({p_method(n)})"
    )
    summary = f"Spearman of init angle: trained ratio {ratio.short()}, acc {acc.short()}; {n} nets"
    if left_out:
        summary += f", {len(left_out)} exploding out"
    if smallest_exact_p(n) >= ALPHA:
        summary += f": p >= {smallest_exact_p(n):.2g}, needs >= {networks_needed()} nets"
    elif status == INCONCLUSIVE:
        best, what = max((abs(ratio.rho), "ratio"), (abs(acc.rho), "acc"))
        more = networks_for_rho(best)
        summary += f"; {what} " + needs_text(more, "nets")
        text += (
            f"; were |rho| {best:.2f} ({what}) what it is, {needs_text(more, 'networks')} "
            "(t approximation)"
        )
    draws = int(table.draws.min())
    summary += f"; L<={int(table.depth.max())}, {draws} draws"
    draws_table = read_table(results_dir, TRAINED_EXP, "draws")
    scale = (
        f"{len(table)} networks x {draws}+ draws, depth {int(draws_table.depth.min())}-"
        f"{int(draws_table.depth.max())}, width {int(draws_table.width.max())}, data "
        + ",".join(sorted(draws_table.data_name.astype(str).unique()))
    )
    return Verdict(status, text, scale, TRAINED_FIGURE, summary=fit_line(summary))

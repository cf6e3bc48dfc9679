"""Verdict rules for B1-B3 (skip connections and BatchNorm keep inputs apart); B4 and B5 (class
distances) are in :mod:`initlab.papers.angles.claims_distance`; C1, measured on the same angles,
has its rule in :mod:`initlab.papers.max_lr.claims`.

Inputs: ``angles.csv`` / ``draws.csv`` collected from ``task=angle_stream`` runs for B1-B3
(column ``arch``: ``mlp``, ``resnet``, ``resnet_bn``, ``resnet_scale``, ``resnet_fixup``;
column ``depth`` per network) and ``task=angles`` runs for B4/B5.

Law fits (:mod:`initlab.analysis.laws`) of the angle and of 1 - cosine against the layer index
l over the TAIL, l >= max(10, L / 10) (:func:`tail_layers`; the layers the runs measure there
are log-spaced, the question being how the angle falls at depth, not how it leaves its start):
an exponential law (log y linear in l) against a power law (log y linear in log l; its slope
is the "tail exponent", -1 for a 1/l tail), fitted to each draw's curve (one draw = one
network: its layers are not independent points, so the intervals come from the spread between
draws); L * angle_L per draw, with its interval, sits beside the theory's (3 pi for the MLP's
limit, 9 pi / 2 for the He ResNet's). The comparison statistic is the difference
of log-space RMSEs, exponential minus power, per draw; its 95% t interval over draws decides:
"power" when it lies above 0, "exponential" below 0, "undecided" when it straddles 0. Exponents
and rates are reported as the mean over draws with the same kind of interval. The deciding curve
is the pair set of the smallest initial cosine (the most different inputs: the longest way to
fall); the other pair sets and the random data pairs are counted and reported next to it.

**Theory and data agreeing** (:class:`TheoryAgreement`): where the draws leave the law undecided
but the network has a mean-field theory curve (the arc-cosine map for the MLP, the residual
recursion for the ResNet), the law is the theory's when the theory curve lies inside the draws'
95% t band (per layer, over draws) at >= 95% of the layers while the best fit of the other law
to the measured mean lies outside it at more than 5% of them (a correct curve leaves a 95% band
at about 5% of the layers by chance). The band is widened by the cross-machine tolerance of a
measured angle (1% relative, :data:`initlab.report.tolerances.STATISTICS`): no law is decided by
differences a re-run on another CPU may move. The verdict then names the law found and how.
Otherwise an undecided law is inconclusive, and the verdict says how many draws would decide
were the mean and spread over draws what they are (:func:`initlab.claims.decide`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from initlab.analysis.laws import LEVEL, Estimate, LawFit, fit_law, replicate_interval, t_quantile
from initlab.claims.decide import fit_line as _fit_line
from initlab.claims.decide import needs_text, replicates_needed_for, replicates_to_place, short
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
from initlab.claims.registry import read_table as _read_table
from initlab.report.tolerances import STATISTICS

ANGLES_EXP = "b1_b3_angles"
ANGLE_FIGURE = f"{ANGLES_EXP}/angle_vs_layer.png"
ARCH_FIGURE = f"{ANGLES_EXP}/angle_by_arch.png"

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
class TheoryAgreement:
    """The theory curve against the draws' 95% band, widened by the cross-machine tolerance (see
    the module doc): its law, the layers where it and the best fit of the other law lie inside
    the band, of ``layers``."""

    law: str  # the theory curve's law (the better of the two fits to it)
    theory_inside: int
    other_inside: int
    layers: int

    @property
    def agrees(self) -> bool:
        """The theory stays in the band (>= 95% of layers), the other law's fit does not."""
        out = 1.0 - LEVEL
        return (
            self.layers - self.theory_inside <= out * self.layers
            and self.layers - self.other_inside > out * self.layers
        )

    def short(self) -> str:
        other = "exp" if self.law == "power" else "power"
        return (
            f"theory in 95% band at {self.theory_inside}/{self.layers} layers, "
            f"{other} {self.other_inside}/{self.layers}"
        )

    def text(self) -> str:
        other = "exponential" if self.law == "power" else "power"
        return (
            f"theory ({self.law}) in the draws' 95% band at {self.theory_inside}/{self.layers} "
            f"layers, best {other} fit at {self.other_inside}/{self.layers}"
        )


def theory_agreement(curve: pd.DataFrame, by_draw: pd.DataFrame | None) -> TheoryAgreement | None:
    """:class:`TheoryAgreement` of a pair set's mean curve and its draws; None without a theory
    curve or with fewer than 2 draws."""
    part = curve[(curve.index >= 1) & curve.theory_angle.notna()]
    if by_draw is None or len(part) < 3 or len(part) < (curve.index >= 1).sum():
        return None
    if (part.theory_angle <= 0).any() or (part.angle_mean <= 0).any():
        return None
    draws = by_draw[by_draw.index.get_level_values("layer") >= 1].angle_mean.unstack("draw")
    n = draws.shape[1]
    if n < 2:
        return None
    draws = draws.loc[part.index]
    mean = draws.mean(axis=1).to_numpy()
    half = t_quantile(n - 1) * draws.std(axis=1, ddof=1).to_numpy() / np.sqrt(n)
    half = half + STATISTICS.rel * np.abs(mean)  # what a re-run on another CPU may move
    layers = part.index.to_numpy(float)
    theory = part.theory_angle.to_numpy(float)
    power, exp = fit_law("power", layers, theory), fit_law("exponential", layers, theory)
    law = "power" if power.rmse_log < exp.rmse_log else "exponential"
    other = fit_law("exponential" if law == "power" else "power", layers, mean)

    def inside(values: np.ndarray) -> int:
        return int((np.abs(values - mean) <= half).sum())

    return TheoryAgreement(law, inside(theory), inside(other.predict(layers)), len(layers))


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
    draws: int = 0
    theory: TheoryAgreement | None = None
    #: slope of log angle on log layer over the tail (:func:`tail_layers`), per draw, interval
    tail_exponent: Estimate | None = None
    #: L * angle_L per draw (its limit: 3 pi for the MLP, 9 pi / 2 for the He ResNet)
    l_theta: Estimate | None = None
    depth: int = 0
    last_draws: tuple[float, ...] = ()  # each draw's angle at the last layer
    theory_last: float = float("nan")  # the theory's angle at the last layer

    @property
    def angle_law(self) -> str:
        """The angle's law as the draws decide it (power / exponential / undecided)."""
        return law_of(self.angle_diff)

    @property
    def law(self) -> str:
        """The angle's law: the draws', or where they leave it undecided, the theory's when
        theory and data agree (module doc)."""
        if self.angle_law == "undecided" and self.theory is not None and self.theory.agrees:
            return self.theory.law
        return self.angle_law

    @property
    def by_theory(self) -> bool:
        """The law was decided by theory and data agreeing (the draws alone left it open)."""
        return self.angle_law == "undecided" and self.law != "undecided"

    @property
    def law_how(self) -> str:
        """How :attr:`law` was decided, in words."""
        if self.angle_law != "undecided":
            return f"draws: rmse exp - power {short(self.angle_diff)}"
        if self.law != "undecided":
            return self.theory.short()
        return f"rmse exp - power {short(self.angle_diff)}; {self.draws_needed()}"

    def draws_needed(self) -> str:
        """What would decide an undecided law: draws, were mean and spread as measured."""
        return needs_text(replicates_needed_for(self.angle_diff, self.draws), "draws")

    @property
    def omc_law(self) -> str:
        return law_of(self.omc_diff)

    @property
    def decreasing(self) -> bool:
        return self.last < self.first

    def describe(self) -> str:
        return (
            f"angle {self.first:.3g}->{self.last:.3g} rad; tail (layers >= max(10, L/10)) "
            f"angle: exp rate "
            f"{self.angle_rate.text()}/layer (R2 {self.angle_exp.r2_log:.3f}) vs power exponent "
            f"{self.angle_exponent.text()} (R2 {self.angle_pow.r2_log:.3f}), rmse exp - power "
            f"{self.angle_diff.text()} ({self.angle_law}); 1-cos: rmse exp - power "
            f"{self.omc_diff.text()} ({self.omc_law}); L*angle_L {self.l_theta.text()}"
            + (
                f" (theory {self.depth * self.theory_last:.3g})"
                if np.isfinite(self.theory_last)
                else ""
            )
            + f"; intervals: {self.angle_diff.method}"
            + (f"; {self.theory.text()}" if self.theory is not None else "")
        )


def tail_layers(layers: np.ndarray) -> np.ndarray:
    """The tail where a law's exponent is read: layers >= max(10, L / 10) (L the last)."""
    return layers >= max(10.0, layers.max() / 10.0)


def tail_slope(layers: np.ndarray, angle: np.ndarray) -> float:
    """Slope of log angle on log layer over :func:`tail_layers` (-1: a 1/l tail)."""
    tail = tail_layers(layers) & (angle > 0)
    if tail.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(layers[tail]), np.log(angle[tail]), 1)[0])


def _curve_arrays(
    curve: pd.DataFrame, tail: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layers, angle, 1 - cos) over layers >= 1, or over :func:`tail_layers` only."""
    part = curve[curve.index >= 1]
    if tail:
        part = part[tail_layers(part.index.to_numpy(dtype=float))]
    omc = np.clip(part.one_minus_cos_mean.to_numpy(), np.finfo(float).tiny, None)
    return part.index.to_numpy(dtype=float), part.angle_mean.to_numpy(), omc


def fit_curve(curve: pd.DataFrame, by_draw: pd.DataFrame | None = None) -> CurveFit:
    """Fits of the draw-mean ``curve``; intervals from ``by_draw`` (indexed by draw, layer; the
    mean curve alone gives infinite intervals)."""
    layers, angle, omc = _curve_arrays(curve)
    tail_x, tail_a, tail_o = _curve_arrays(curve, tail=True)
    per_draw = []
    draws = []
    if by_draw is not None:  # (layers x draws) matrices: one column per draw
        keep = by_draw.index.get_level_values("layer") >= 1
        part = by_draw[keep]
        mats = [part[c].unstack("draw") for c in ("angle_mean", "one_minus_cos_mean")]
        x_all = mats[0].index.to_numpy(dtype=float)
        tail = tail_layers(x_all)
        tiny = np.finfo(float).tiny
        draws = [
            (x_all[tail & mats[0][d].notna().to_numpy()], mats[0][d], mats[1][d])
            for d in mats[0].columns
        ]
    for x, a_col, o_col in draws:
        mask = tail & a_col.notna().to_numpy()
        a = a_col.to_numpy(dtype=float)[mask]
        o = np.clip(o_col.to_numpy(dtype=float)[mask], tiny, None)
        ae, ap = fit_law("exponential", x, a), fit_law("power", x, a)
        oe, op = fit_law("exponential", x, o), fit_law("power", x, o)
        per_draw.append(
            (
                ap.params["exponent"],
                ae.params["rate"],
                ae.rmse_log - ap.rmse_log,
                oe.rmse_log - op.rmse_log,
                ap.params["exponent"],
                x[-1] * a[-1],
                a[-1],
            )
        )
    values = np.array(per_draw, dtype=float).reshape(-1, 7)
    if len(values) == 0:
        values = np.full((1, 7), np.nan)

    def interval(column: int, fallback: float) -> Estimate:
        finite = values[np.isfinite(values[:, column]), column]
        if finite.size == 0:
            return Estimate(fallback, -np.inf, np.inf, "no draws: no interval")
        return replicate_interval(finite, what="draws")

    angle_exp, angle_pow = fit_law("exponential", tail_x, tail_a), fit_law("power", tail_x, tail_a)
    omc_exp, omc_pow = fit_law("exponential", tail_x, tail_o), fit_law("power", tail_x, tail_o)
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
        len(values) if by_draw is not None else 0,
        theory_agreement(curve, by_draw),
        interval(4, angle_pow.params["exponent"]),
        interval(5, layers[-1] * angle[-1]),
        int(layers[-1]),
        tuple(float(v) for v in values[:, 6] if np.isfinite(v)),
        float(curve.theory_angle.iloc[-1]) if "theory_angle" in curve else float("nan"),
    )


#: (angles.csv path, mtime, size, arch, what) -> curves or fits: the rules read one table many
#: times; a rewritten file (new mtime or size) is read afresh
_CACHE: dict[tuple, object] = {}


def _cached(results_dir: Path, arch: str, what: str, compute):
    path = Path(results_dir) / ANGLES_EXP / "angles.csv"
    try:
        stat = path.stat()
    except OSError:
        return compute()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, arch, what)
    if key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = compute()
    return _CACHE[key]


def _curves(results_dir: Path, arch: str) -> tuple[dict, dict]:
    """(mean curves, per-draw curves) of ``arch``'s pair sets (:func:`pair_curves`)."""

    def compute():
        table = read_table(results_dir, ANGLES_EXP, "angles")
        return pair_curves(table, arch), pair_curves(table, arch, by_draw=True)

    return _cached(results_dir, arch, "curves", compute)


def _fits(results_dir: Path, arch: str) -> tuple[str, CurveFit, dict[str, CurveFit]]:
    def compute():
        curves, by_draw = _curves(results_dir, arch)
        fits = {name: fit_curve(c, by_draw[name]) for name, c in curves.items()}
        deciding = next(n for n in fits if n != "data") if len(fits) > 1 else next(iter(fits))
        return deciding, fits[deciding], fits

    return _cached(results_dir, arch, "fits", compute)


def _short_scale(
    results_dir: Path, experiment: str, table: str = "angles", arch: str | None = None
) -> str:
    """``L=100, w=512, 3 draws`` (the summary line's scale; of ``arch`` alone if given)."""
    frame = read_table(results_dir, experiment, table)
    if arch is not None and (frame.arch == arch).any():
        frame = frame[frame.arch == arch]
    draws = frame.groupby("arch").draw.nunique().min()
    return f"L={int(frame.depth.max())}, w={int(frame.width.max())}, {draws} draws"


def laws_count(fits: dict[str, CurveFit], law: str) -> str:
    """``k/n pair sets``: how many pair sets' angle law is ``law`` (each decided by its draws,
    or by theory and data agreeing)."""
    return f"{sum(f.law == law for f in fits.values())}/{len(fits)} pair sets"


def _float64_text(results_dir: Path) -> str:
    """What float64 changes (draw 0 run both ways with the same weights), where measured."""
    table = read_table(results_dir, ANGLES_EXP, "angles")
    if "angle_float64" not in table or table.angle_float64.isna().all():
        return ""
    rows = table[table.angle_float64.notna()]
    diff = (rows.angle_float64 - rows.angle_mean).abs()
    rel = diff / rows.angle_float64.abs().clip(lower=1e-12)
    return (
        f"float32 vs float64 (draw 0, same weights, {rows.arch.nunique()} networks, every "
        f"measured layer): max |d angle| {diff.max():.2g} rad, max relative {rel.max():.2g}"
    )


def _theory_l_theta(fit: CurveFit) -> str:
    return f" (theory {fit.depth * fit.theory_last:.3g})" if np.isfinite(fit.theory_last) else ""


def _scale(results_dir: Path, experiment: str, table: str = "angles") -> str:
    frame = read_table(results_dir, experiment, table)
    draws = frame.groupby("arch").draw.nunique().min()
    data = ",".join(sorted(frame["data_name"].astype(str).unique()))
    depths = sorted(int(d) for d in frame.depth.unique())
    depth = f"{depths[0]}" if len(depths) == 1 else f"{depths[0]}-{depths[-1]} (per network)"
    return f"depth {depth}, width {int(frame.width.max())}, {draws} draws/net, data {data}"


def _agreeing(fits: dict[str, CurveFit], deciding: str, law: str) -> str:
    others = [n for n in fits if n != deciding]
    agree = [n for n in others if fits[n].law == law]
    return f"{len(agree)}/{len(others)} other pair sets agree"


def _b1(results_dir: Path) -> tuple[str, str]:
    """(law of the MLP, measured text): "exponential" when the angle's law (draws, or theory and
    data agreeing) and 1 - cos's are both exponential, "mixed" when one of them is, "power" when
    neither is and one is power, else "undecided"."""
    name, fit, fits = _fits(results_dir, "mlp")
    curve = pair_curves(read_table(results_dir, ANGLES_EXP, "angles"), "mlp")[name]
    text = (
        f"MLP pairs {name}: {fit.describe()}; angle law {fit.law} ({fit.law_how}), 1-cos law "
        f"{fit.omc_law} ({_agreeing(fits, name, fit.law)})"
    )
    if curve.theory_angle.notna().all():
        text += (
            f"; arc-cosine theory at layer {curve.index.max()}: "
            f"{curve.theory_angle.iloc[-1]:.3g} rad (its tail is ~3 pi / l, a power law)"
        )
    laws = (fit.law, fit.omc_law)
    if laws == ("exponential", "exponential"):
        return "exponential", text
    if "exponential" in laws:
        return "mixed", text
    return ("power" if "power" in laws else "undecided"), text


def b1_check(results_dir: Path) -> tuple[Check, str]:
    """B1's check (the MLP's laws are exponential; against: a power law found, none
    exponential) and its summary text: the law, in how many pair sets, the tail exponent and
    L * angle_L with their intervals over draws beside the arc-cosine theory's."""
    _, fit, fits = _fits(results_dir, "mlp")
    law, _ = _b1(results_dir)
    if law == "undecided":
        found = f"law undecided: {fit.law_how}"
    else:
        how = ", theory & data agree" if fit.by_theory else ""
        found = (
            f"{law} law ({laws_count(fits, fit.law)}{how}), tail exponent "
            f"{short(fit.tail_exponent)}, L*angle {short(fit.l_theta)}{_theory_l_theta(fit)}"
        )
    return Check.of(law == "exponential", law == "power", found), found


@evaluator("B1", experiment=ANGLES_EXP)
def b1_mlp_exponential(results_dir: Path, profile: str) -> Verdict:
    """The MLP's angle and 1 - cos laws (module doc: draws, or theory and data agreeing):

    - reproduced: both exponential;
    - partly: one exponential, the other power or undecided;
    - contradicted: neither exponential and a power law found (for the angle by the draws or by
      the arc-cosine theory agreeing with the data, or for 1 - cos by the draws);
    - inconclusive: neither law decided (the verdict says how many draws would decide).

    It fails (contradicted) when the draws' RMSE-difference interval lies above 0 (power fits
    better in every draw on average) or, the draws undecided, the arc-cosine theory curve stays
    in their band while the best exponential does not.
    """
    law, text = _b1(results_dir)
    check, found = b1_check(results_dir)
    status = PARTLY if law == "mixed" else grade([check])
    summary = f"{found}; {_short_scale(results_dir, ANGLES_EXP, arch='mlp')}"
    float64 = _float64_text(results_dir)
    if float64:
        text += f"; {float64}"
    return Verdict(
        status, text, _scale(results_dir, ANGLES_EXP), ANGLE_FIGURE, summary=_fit_line(summary)
    )


def angles_at(results_dir: Path, arch: str, name: str, layer: int) -> np.ndarray:
    """Each draw's mean angle of pair set ``name`` of ``arch`` at ``layer`` (empty if absent)."""
    _, by_draw = _curves(results_dir, arch)
    if name not in by_draw:
        return np.array([])
    rows = by_draw[name]
    rows = rows[rows.index.get_level_values("layer") == layer]
    return rows.angle_mean.to_numpy(float)


def compare_at_depth(
    results_dir: Path, arch: str, other: str, name: str, first: CurveFit, second: CurveFit
) -> tuple[int, Estimate | None]:
    """(layer, Welch interval of arch's angle minus other's there) at the deeper of the two
    networks' common depth (min of their depths; every run measures the round depths)."""
    layer = min(first.depth, second.depth)
    a, b = (angles_at(results_dir, x, name, layer) for x in (arch, other))
    return layer, welch(a, b)


@evaluator("B2", experiment=ANGLES_EXP)
def b2_resnet_subexponential(results_dir: Path, profile: str) -> Verdict:
    """Three checks on the ResNet's angle (law: module doc, draws or theory and data agreeing):

    - sub-exponential: holds when it decreases with a power law; against when its law is
      exponential; open when undecided;
    - slower than the MLP: holds when the ResNet's angle at their common depth lies above the
      MLP's (95% Welch t interval of the difference over draws above 0); against when below 0;
      open otherwise;
    - the skip connection changes the law ("slow ... to sub-exponential"): holds when the MLP's
      law is exponential and the ResNet's a power law; against when both are power laws (the
      skip connection then changes the constant, not the law); open otherwise.

    All three: reproduced; some: partly; none: contradicted if one is against, else
    inconclusive (the verdict says how many draws would decide the law). It fails outright
    (contradicted) when the ResNet's law is exponential or its angle falls below the MLP's.
    """
    name, res, fits = _fits(results_dir, "resnet")
    _, mlp, _ = _fits(results_dir, "mlp")
    sub = Check.of(res.decreasing and res.law == "power", res.law == "exponential")
    layer, gap = compare_at_depth(results_dir, "resnet", "mlp", name, res, mlp)
    if gap is None:
        slower = Check.of(res.last > mlp.last, False)
        gap_text = "no interval"
    else:
        slower = Check.of(gap.above(0.0), gap.below(0.0))
        gap_text = f"ResNet - MLP {gap.text()}"
    changes = Check.of(
        mlp.law == "exponential" and res.law == "power", mlp.law == res.law == "power"
    )
    status = grade([sub, slower, changes])
    text = (
        f"ResNet pairs {name}: {res.describe()}; decreasing {res.decreasing}, law "
        f"{res.law} ({res.law_how}; {laws_count(fits, res.law)}); angle at layer {layer} "
        f"({gap_text}; slower: {slower.outcome}); the MLP's own law is {mlp.law} (changes the "
        f"law: {changes.outcome})"
    )
    ratio = res.last / mlp.last if mlp.last > 0 else float("nan")
    same = ", MLP also power" if mlp.law == res.law == "power" else ""
    compared = f"angle@{layer} {ratio:.2g}x MLP's ({slower.outcome}){same}"
    if res.law == "undecided":
        parts = [f"law undecided: {res.law_how}", compared]
    else:
        parts = [
            f"{res.law} ({laws_count(fits, res.law)}), tail exp {short(res.tail_exponent)}",
            compared,
            f"L*angle {short(res.l_theta)}{_theory_l_theta(res)}",
        ]
    summary = "; ".join([*parts, _short_scale(results_dir, ANGLES_EXP, arch="resnet")])
    return Verdict(
        status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE, summary=_fit_line(summary)
    )


def _b3(results_dir: Path) -> tuple[Check, Check, str]:
    """(reciprocal decrease, slower than the ResNet, measured text) for true BatchNorm:

    - reciprocal: holds when the angle decreases with a power law whose TAIL exponent's
      interval (:func:`tail_slope`, over draws) lies within -1 +- RECIPROCAL_TOL; against when
      that interval lies wholly outside it (no decrease, growth, or another rate); open otherwise;
    - slower: holds when the angle decreases (its tail exponent's interval below 0: there is a
      decrease to slow) and lies above the ResNet's at their common depth (Welch interval of
      the difference above 0); open otherwise.
    """
    name, bn, fits = _fits(results_dir, "resnet_bn")
    _, res, _ = _fits(results_dir, "resnet")
    exponent = bn.tail_exponent
    low, high = -1.0 - RECIPROCAL_TOL, -1.0 + RECIPROCAL_TOL
    reciprocal = Check.of(_is_reciprocal(bn), exponent.hi < low or exponent.lo > high)
    decreases = exponent.below(0.0)
    layer, gap = compare_at_depth(results_dir, "resnet_bn", "resnet", name, bn, res)
    slower = Check.of(decreases and gap is not None and gap.above(0.0), False)
    text = (
        f"ResNet+BN (batch statistics) pairs {name}: {bn.describe()}; tail exponent "
        f"{exponent.text()} (1/l needs it inside -1 +- {RECIPROCAL_TOL}: {reciprocal.outcome}); "
        + "; ".join(
            f"{n} angle {f.first:.3g}->{f.last:.3g}, tail exponent {f.tail_exponent.text()}"
            + (f", mean-field angle_L {f.theory_last:.3g}" if np.isfinite(f.theory_last) else "")
            for n, f in fits.items()
        )
        + f"; at layer {layer} BN - ResNet "
        + (gap.text() if gap is not None else "no interval")
        + f" (slower decrease: {slower.outcome})"
    )
    return reciprocal, slower, text


def _b3_found(results_dir: Path) -> list[str]:
    """B3's summary parts: the BN angle's tail exponent and what it shows, its last angle beside
    the mean-field batch recursion's, how many pair sets grow."""
    name, bn, fits = _fits(results_dir, "resnet_bn")
    exponent = bn.tail_exponent
    low, high = -1.0 - RECIPROCAL_TOL, -1.0 + RECIPROCAL_TOL
    if exponent.within(low, high):
        shape = "about 1/l"
    elif exponent.lo <= high and exponent.hi >= low:
        shape = "1/l not decided"
    elif exponent.below(0.0):
        shape = "a decrease, not 1/l"
    elif exponent.above(0.0):
        shape = "growth"
    else:
        shape = "no decrease"
    grows = sum(f.last > f.first for f in fits.values())
    last = replicate_interval(bn.last_draws, what="draws") if bn.last_draws else None
    theory = f" (theory {bn.theory_last:.2f})" if np.isfinite(bn.theory_last) else ""
    return [
        f"BN tail exp {short(exponent)}: {shape} ({name})",
        "angle@L " + (short(last, 3) if last is not None else f"{bn.last:.3g}") + theory,
        f"{grows}/{len(fits)} pair sets rise",
    ]


#: the per-example, scale-only normalization (the mean-field idealization; arm angles_resnet_scale)
SCALE_ARCH = "resnet_scale"


def _is_reciprocal(fit: CurveFit) -> bool:
    return (
        fit.decreasing
        and fit.law == "power"
        and fit.tail_exponent.within(-1.0 - RECIPROCAL_TOL, -1.0 + RECIPROCAL_TOL)
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
        f"{fit.last:.3g} rad, law {fit.law}, tail exponent {fit.tail_exponent.text()} "
        f"(1/l: {reciprocal}); its mean-field recursion (mode normalized): "
        f"{_theory_exponent(curve)}"
    )


@evaluator("B3", experiment=ANGLES_EXP)
def b3_bn_reciprocal(results_dir: Path, profile: str) -> Verdict:
    """True BatchNorm (batch statistics) decides, by the two checks of :func:`_b3` (reciprocal
    decrease, slower decrease than the plain ResNet): both hold: reproduced; one: partly; none:
    partly still if the per-example scale-normalized ResNet (the idealization) decays like 1/l,
    else contradicted when the BN tail exponent's interval lies wholly outside
    -1 +- RECIPROCAL_TOL (what fails it: an angle that stays, grows, or falls at another rate;
    the law found is named), else inconclusive (the verdict says how many draws would put the
    exponent's interval wholly inside or outside that band, were mean and spread as measured).
    Both notions are reported, BN beside its mean-field batch recursion."""
    reciprocal, slower, text = _b3(results_dir)
    scale_reciprocal, scale_text = _scale_norm(results_dir)
    if scale_text:
        text += f" | {scale_text}"
    status = grade([reciprocal, slower])
    if status in (CONTRADICTED, INCONCLUSIVE) and scale_reciprocal:
        status = PARTLY
    found = _b3_found(results_dir)
    parts = found[:1]  # by priority: the summary line drops the later middle parts first
    if status == INCONCLUSIVE:
        _, bn, _ = _fits(results_dir, "resnet_bn")
        low, high = -1.0 - RECIPROCAL_TOL, -1.0 + RECIPROCAL_TOL
        parts.append(
            needs_text(replicates_to_place(bn.tail_exponent, bn.draws, low, high), "draws")
        )
    parts += found[1:]
    try:
        _, scale, _ = _fits(results_dir, SCALE_ARCH)
        parts.append(f"scale norm tail exp {short(scale.tail_exponent)}")
    except NotRun:
        pass
    summary = "; ".join(parts)
    summary += f"; {_short_scale(results_dir, ANGLES_EXP, arch='resnet_bn')}"
    return Verdict(
        status, text, _scale(results_dir, ANGLES_EXP), ARCH_FIGURE, summary=_fit_line(summary)
    )


def welch(a: np.ndarray, b: np.ndarray) -> Estimate | None:
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

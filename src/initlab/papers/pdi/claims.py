"""Verdict rules for the PDI paper's claims D1-D2 (Sato & Kimura).

D1 reads ``results/<profile>/d1_pdi_weight_variance/weight_variance.csv`` (``init=pdi`` with
``init.variance_every > 0``); D2 reads ``summary.csv`` and ``metrics.csv`` of
``results/<profile>/d2_pdi_vae/`` (``task=train_vae``, arms in the ``arm`` column).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from initlab.analysis.laws import Estimate, replicate_interval, t_quantile
from initlab.claims.decide import (
    fit_line,
    needs_text,
    replicates_needed_for,
    replicates_to_place,
)
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
from initlab.columns import ARM, COMPLETED, RUN, SEED, STATUS

D1_EXP = "d1_pdi_weight_variance"
D2_EXP = "d2_pdi_vae"
#: The paper's Fig. 1 layer: the second weight layer of the 3-layer CNN (0-based position 1).
D1_LAYER_POSITION = 1
#: "Close to 2 / n_in": the ratio within [1 / 1.25, 1.25] (+-25% on the log scale). The other
#: starts swept lie outside this band: He / 4 and He x 4 in variance, LeCun at 1/2 of it, Xavier
#: at fan_in / (fan_in + fan_out) (1/3 for conv 2 of the quick CNN), PyTorch's default at 1/6.
D1_CLOSE_TOL = 0.25
D1_BAND_LOG = math.log1p(D1_CLOSE_TOL)
#: Table 1 of the paper: final L1 reconstruction loss.
PAPER_L1_HE = 0.2418
PAPER_L1_PDI = 0.1860
#: D2 counts PDI's L1 gain as the paper's if it is at least half the paper's relative gain.
D2_GAIN_SHARE = 0.5
#: D2 arms: He, He given PDI's extra optimizer steps (a control), PDI.
ARMS = ("he", "he_matched", "pdi")
#: conf/arm/d2_*.yaml -> its D2 arm; the paper-scale PDI arm runs the paper's stages
D2_ARMS = {
    "d2_he": "he",
    "d2_he_full": "he",
    "d2_he_matched": "he_matched",
    "d2_he_matched_full": "he_matched",
    "d2_pdi": "pdi",
    "d2_pdi_full": "pdi",
}
#: Logged steps in the rolling median that the curve roughness is measured against.
ROUGHNESS_WINDOW = 5


def _completed(frame: pd.DataFrame) -> pd.DataFrame:
    if STATUS in frame.columns:
        frame = frame[frame[STATUS] == COMPLETED]
    return frame


# ---------------------------------------------------------------------------------------- D1
def variance_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Per (start, seed, layer): Var(W) / (2 / fan_in) at the first and the last record, and
    whether the run's stop rule was met (``settled``; True where the CSV has no such column).
    ``start``: the run's arm (conf/arm/d1_*: base initializer and gain), else its base."""
    table = _completed(table).copy()
    if table.empty:
        raise NotRun("no completed run in weight_variance.csv")
    table["ratio"] = table["variance"] / table["he_variance"]
    table["order"] = table["stage"] * 10**9 + table["step"]
    table["start"] = table[ARM].astype(str) if ARM in table.columns else table["base"].astype(str)
    if "settled" not in table.columns:
        table["settled"] = True
    keys = ["start", SEED, "layer"] if SEED in table.columns else ["start", "layer"]
    # stable: rows of one (start, seed, layer) at the same stage and step keep the CSV's order,
    # on every CPU (numpy's default quicksort picks a different kernel per instruction set)
    ordered = table.sort_values("order", kind="stable")
    grouped = ordered.groupby(keys, sort=True)
    out = grouped.agg(
        base=("base", "first"),
        fan_in=("fan_in", "first"),
        start_ratio=("ratio", "first"),
        end_ratio=("ratio", "last"),
        steps=("step", "last"),
        settled=("settled", "last"),
    ).reset_index()
    out["settled"] = out["settled"].astype(str).str.lower().isin(("true", "1", "1.0"))
    layer_order = list(dict.fromkeys(table["layer"]))  # module order as recorded
    out["position"] = out["layer"].map(layer_order.index)
    # |log ratio|: the distance from 2 / fan_in on the log scale (ratios 1/2 and 2 equally far)
    out["pull"] = out["end_ratio"].map(lambda r: abs(math.log(r))) - out["start_ratio"].map(
        lambda r: abs(math.log(r))
    )
    return out


def side_of(ratio: float) -> str:
    """Where a start lies: ``at`` 2 / fan_in (within the band), ``below`` or ``above`` it."""
    if abs(math.log(ratio)) <= D1_BAND_LOG:
        return "at"
    return "below" if ratio < 1.0 else "above"


def d1_starts(ratios: pd.DataFrame, position: int = D1_LAYER_POSITION) -> pd.DataFrame:
    """Per start at the layer at ``position``: its side (from the median start ratio), seeds,
    median start and end ratios, the 95% t interval over seeds of the pull (|log end| - |log
    start|: < 0 moved towards 2 / fan_in) and of log end (inside +-log(1.25): landed close),
    runs whose stop rule was met. Starts in the order of their first appearance."""
    layer = ratios[ratios["position"] == position]
    rows = []
    for start, runs in layer.groupby("start", sort=False):
        pull = replicate_interval(runs["pull"].to_numpy(), what="seeds")
        end = replicate_interval(np.log(runs["end_ratio"].to_numpy()), what="seeds")
        start_ratio = float(runs["start_ratio"].median())
        rows.append(
            {
                "start": str(start),
                "side": side_of(start_ratio),
                "seeds": len(runs),
                "start_ratio": start_ratio,
                "end_ratio": float(runs["end_ratio"].median()),
                "pull": pull.value,
                "pull_lo": pull.lo,
                "pull_hi": pull.hi,
                "log_end": end.value,
                "log_end_lo": end.lo,
                "log_end_hi": end.hi,
                "settled": int(runs["settled"].sum()),
                "steps": int(runs["steps"].max()),
            }
        )
    return pd.DataFrame(rows)


def _towards(row: Any) -> bool:
    return row.pull_hi < 0.0


def _away(row: Any) -> bool:
    return row.pull_lo > 0.0


def _lands(row: Any) -> bool:
    return row.log_end_lo >= -D1_BAND_LOG and row.log_end_hi <= D1_BAND_LOG


def _leaves(row: Any) -> bool:
    return row.log_end_lo > D1_BAND_LOG or row.log_end_hi < -D1_BAND_LOG


@evaluator("D1", experiment=D1_EXP)
def d1_weight_variance(results_dir: Path, profile: str) -> Verdict:
    """Does PDI ATTRACT the second conv layer's variance to He's 2 / fan_in? Per start (base
    initializer x gain, conf/arm/d1_*), 95% t intervals over seeds of the pull, |log(Var(W) /
    (2 / fan_in))| at the end of PDI minus at its start (< 0: nearer 2 / fan_in), and of the log
    ratio at the end ("lands close": inside +-log 1.25, i.e. the ratio within [0.8, 1.25]):

    - reproduced: starts below AND above 2 / fan_in each move towards it (pull interval < 0),
      a start at it (He) stays in the band, every start lands close and every run's stop rule
      was met (the variance had settled);
    - partly: attraction holds (both sides move towards it, He stays), but not every start
      lands close (or some run reached its step cap unsettled);
    - contradicted: a start off 2 / fan_in moves away from it (pull interval > 0), or He's
      leaves the band (interval outside it): a growth (or shrinkage) that moves every start the
      same way fails here, since it carries the starts on one side away;
    - inconclusive: otherwise (some pull interval straddles 0, or no start on one side: the
      verdict says how many seeds would place it).
    """
    table = read_table(results_dir, D1_EXP, "weight_variance", completed=False)
    ratios = variance_ratios(table)
    starts = d1_starts(ratios)
    sides = {side: starts[starts["side"] == side] for side in ("below", "at", "above")}
    if starts.empty or len(starts) < 2:
        raise NotRun("D1 needs at least two starting points")
    off = starts[starts["side"] != "at"]
    towards = [_towards(r) for r in off.itertuples()]
    away = [r.start for r in off.itertuples() if _away(r)]
    at_left = [r.start for r in sides["at"].itertuples() if _leaves(r)]
    at_stays = all(_lands(r) for r in sides["at"].itertuples())
    both_sides = len(sides["below"]) > 0 and len(sides["above"]) > 0
    attraction = both_sides and all(towards) and at_stays
    landed = [_lands(r) for r in starts.itertuples()]
    runs, settled = int(starts["seeds"].sum()), int(starts["settled"].sum())
    if attraction and all(landed) and settled == runs:
        status = REPRODUCED
    elif attraction:
        status = PARTLY
    elif away or at_left:
        status = CONTRADICTED
    else:
        status = INCONCLUSIVE
    layer = ratios[ratios["position"] == D1_LAYER_POSITION]
    name, fan_in = layer["layer"].iloc[0], int(layer["fan_in"].iloc[0])

    def one(r: Any) -> str:
        if r.side == "at":
            word = "leaves the band" if _leaves(r) else "stays in the band" if _lands(r) else ""
        else:
            word = "towards" if _towards(r) else "AWAY" if _away(r) else "undecided"
        return (
            f"{r.start} ({r.side}) {r.start_ratio:.2f}->{r.end_ratio:.2f}, pull "
            f"{r.pull:+.3f} [{r.pull_lo:+.3f}, {r.pull_hi:+.3f}] {word}, end in band "
            f"{'yes' if _lands(r) else 'no'}, settled {r.settled}/{r.seeds}"
        )

    hidden = ratios[ratios["position"] < ratios["position"].max()]
    all_layers = hidden.groupby(["start", "layer"], sort=True)["end_ratio"].median()
    spread = ", ".join(
        f"{b}: {min(all_layers[b]):.2f}..{max(all_layers[b]):.2f}"
        for b in all_layers.index.unique(level="start")
    )
    measured = (
        f"layer 2 ({name}, fan_in {fan_in}) Var(W) / (2/fan_in), start->end of PDI (median over "
        f"seeds), pull = |log end| - |log start| (mean, 95% t interval over seeds; < 0: towards "
        f"2/fan_in): " + "; ".join(one(r) for r in starts.itertuples()) + ". Attraction (starts "
        f"on both sides move towards it, He stays): {'yes' if attraction else 'no'}"
        + (f" (moved away: {', '.join(away)})" if away else "")
        + (f" (He's leaves the band: {', '.join(at_left)})" if at_left else "")
        + f"; landed within [0.8, 1.25]: {sum(landed)}/{len(landed)}; stop rule met in "
        f"{settled}/{runs} runs. Hidden layers' end ratios: {spread}"
    )
    seeds = int(starts["seeds"].min())
    scale = (
        f"{seeds}{'' if seeds == starts['seeds'].max() else '-' + str(starts['seeds'].max())} "
        f"seeds per start, {len(starts)} starts, PDI until "
        f"the layer-2 ratio settled or its step cap (last record: steps "
        f"{int(ratios['steps'].min())}-{int(ratios['steps'].max())})"
    )
    gone = off[[_away(r) for r in off.itertuples()]]
    line = f"layer-2 Var/(2/n_in): {sum(towards)}/{len(towards)} starts off it moved towards it"
    if len(gone):
        g = gone.iloc[0]
        line += f"; {g.start} AWAY {g.start_ratio:.2f}->{g.end_ratio:.2f} (pull {g.pull:+.2f})"
    line += f"; in [0.8,1.25] {sum(landed)}/{len(landed)}"
    if status == INCONCLUSIVE:
        undecided = [r for r in off.itertuples() if not (_towards(r) or _away(r))]
        if not both_sides:
            line += "; no start on one side: attraction untested"
        elif undecided:
            r = undecided[0]
            est = Estimate(r.pull, r.pull_lo, r.pull_hi)
            line += "; " + needs_text(replicates_needed_for(est, r.seeds), "seeds")
    line += f"; settled {settled}/{runs}; {seeds} seeds"
    return Verdict(
        status,
        measured,
        scale,
        f"{D1_EXP}/weight_variance.png",
        summary=fit_line(line),
    )


# ---------------------------------------------------------------------------------------- D2
def arm_of(value: str) -> str:
    """The D2 arm (he, he_matched, pdi) of a run's ``arm`` (conf/arm/d2_*.yaml)."""
    return D2_ARMS.get(str(value), str(value))


def roughness(metrics: pd.DataFrame) -> pd.Series:
    """Per run: mean |log loss - its rolling median over 5 logged steps| in the main phase.

    The rolling median follows the trend, so a smooth curve scores low however fast it falls;
    spikes and oscillation score high.
    """
    train = metrics[(metrics["phase"] == "train") & metrics["train_batch_loss"].notna()]
    train = train[train["train_batch_loss"] > 0]

    def one(run: pd.DataFrame) -> float:
        log_loss = np.log(
            run.sort_values("step", kind="stable")["train_batch_loss"].reset_index(drop=True)
        )
        trend = log_loss.rolling(ROUGHNESS_WINDOW, center=True, min_periods=1).median()
        return float((log_loss - trend).abs().mean()) if len(log_loss) > 1 else float("nan")

    return train.groupby(RUN).apply(one, include_groups=False)


def _mean_se(values: pd.Series) -> tuple[float, float]:
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), se


def relative_gain(pdi: np.ndarray, control: np.ndarray) -> Estimate | None:
    """PDI's relative L1 gain over a control, 1 - mean(PDI) / mean(control), with the 95% Welch
    t interval of mean(control) - mean(PDI) divided by mean(control) (the control's mean taken
    as known: its own spread is in the Welch interval); None with < 2 runs in either."""
    pdi, control = np.asarray(pdi, dtype=float), np.asarray(control, dtype=float)
    pdi, control = pdi[np.isfinite(pdi)], control[np.isfinite(control)]
    if len(pdi) < 2 or len(control) < 2:
        return None
    var_p, var_c = pdi.var(ddof=1) / len(pdi), control.var(ddof=1) / len(control)
    se = math.sqrt(var_p + var_c)
    diff = float(control.mean() - pdi.mean())
    if se == 0:
        half = 0.0
    else:
        dof = (var_p + var_c) ** 2 / (var_p**2 / (len(pdi) - 1) + var_c**2 / (len(control) - 1))
        half = t_quantile(dof) * se
    scale = float(control.mean())
    return Estimate(
        diff / scale, (diff - half) / scale, (diff + half) / scale, "95% Welch t interval / mean"
    )


def paper_gain() -> float:
    """Table 1's relative gain of PDI over He: 1 - 0.1860 / 0.2418."""
    return 1.0 - PAPER_L1_PDI / PAPER_L1_HE


@evaluator("D2", experiment=D2_EXP)
def d2_vae_l1(results_dir: Path, profile: str) -> Verdict:
    """Final test L1 per value, PDI against He given PDI's extra optimizer steps (the matched
    control, arm he_matched; plain He where no matched arm ran), as PDI's relative gain 1 -
    L1(PDI) / L1(control) with its 95% Welch interval over seeds, against the paper's Table 1
    gain g = 1 - 0.1860 / 0.2418 = 23.1%; "the paper's effect": a gain of at least half of it:

    - reproduced: the interval excludes 0 (PDI lower) and the gain is >= g / 2;
    - partly: the interval excludes 0 but the gain is < g / 2 (real, smaller than the paper's);
    - contradicted: the interval excludes g / 2 from above (hi < g / 2) and does not exclude 0:
      no gain of the paper's size, whichever way the point lies (PDI worse: hi < 0 too);
    - inconclusive: the interval holds both 0 and g / 2: the verdict says how many seeds would
      exclude one of them, were the mean and spread what they are.

    Reported beside it, not graded: the gain over plain He, the curves' roughness (the paper's
    "more stable") and the failed runs per arm.
    """
    summary = read_table(results_dir, D2_EXP, "summary", completed=False)
    metrics = read_table(results_dir, D2_EXP, "metrics", completed=False)
    summary[ARM] = summary[ARM].map(arm_of)
    metrics[ARM] = metrics[ARM].map(arm_of)
    done = summary[summary[STATUS] == COMPLETED]
    arms = {a: done[done["arm"] == a]["test_l1"].astype(float) for a in ARMS}
    arms = {a: v for a, v in arms.items() if len(v)}
    if "pdi" not in arms or not ({"he", "he_matched"} & set(arms)):
        raise NotRun("D2 needs completed runs of PDI and of He (matched or plain)")
    control = "he_matched" if "he_matched" in arms else "he"
    gain = relative_gain(arms["pdi"].to_numpy(), arms[control].to_numpy())
    if gain is None:
        raise NotRun("D2 needs >= 2 completed runs of PDI and of its control")
    failed = {a: int((summary[summary["arm"] == a][STATUS] != COMPLETED).sum()) for a in arms}
    stats = {a: _mean_se(v) for a, v in arms.items()}
    rough = roughness(metrics)
    run_arm = metrics.drop_duplicates(RUN).set_index(RUN)["arm"]
    rough_arm = {a: float(rough[run_arm[rough.index] == a].mean()) for a in arms}
    target = D2_GAIN_SHARE * paper_gain()
    if gain.lo > 0 and gain.value >= target:
        status = REPRODUCED
    elif gain.lo > 0:
        status = PARTLY
    elif gain.hi < target:
        status = CONTRADICTED
    else:
        status = INCONCLUSIVE
    n = min(len(arms["pdi"]), len(arms[control]))
    l1 = ", ".join(f"{a} {m:.4f}+-{se:.4f} (n={len(arms[a])})" for a, (m, se) in stats.items())
    rough_text = ", ".join(f"{a} {r:.4f}" for a, r in rough_arm.items())
    plain = relative_gain(arms["pdi"].to_numpy(), arms["he"].to_numpy()) if "he" in arms else None
    name = "He with PDI's extra steps" if control == "he_matched" else "He (no matched arm)"
    measured = (
        f"final test L1 per value (mean +- s.e.): {l1}; PDI's relative gain over {name}: "
        f"{gain.value:+.1%} [{gain.lo:+.1%}, {gain.hi:+.1%}] (95% Welch interval over seeds); "
        f"the paper's Table 1 gain {paper_gain():.1%} (He {PAPER_L1_HE}, PDI {PAPER_L1_PDI}), "
        f"half of it {target:.1%}"
        + (
            f"; over plain He: {plain.value:+.1%} [{plain.lo:+.1%}, {plain.hi:+.1%}]"
            if plain is not None and control != "he"
            else ""
        )
        + f"; curve roughness (mean |log loss - rolling median|): {rough_text}; "
        f"failed/diverged runs: " + ", ".join(f"{a} {k}" for a, k in failed.items())
    )
    short_name = "matched He" if control == "he_matched" else "He"
    line = (
        f"final L1 PDI vs {short_name} {gain.value:+.1%} [{gain.lo:+.1%}, {gain.hi:+.1%}] "
        f"(paper {paper_gain():.1%})"
    )
    if status in (CONTRADICTED, PARTLY) and gain.hi < target:
        line += f"; excludes {target:.1%} (half the paper's)"
    elif status == INCONCLUSIVE:
        line += "; " + needs_text(replicates_to_place(gain, n, 0.0, target), "seeds/arm")
    if plain is not None and control != "he":
        line += f"; vs plain He {plain.value:+.1%} [{plain.lo:+.1%}, {plain.hi:+.1%}]"
    line += f"; {n} seeds/arm"
    return Verdict(
        status,
        measured,
        f"{len(summary)} runs in {len(arms)} arms; absolute L1 depends on data and resolution "
        "(the paper's: CIFAR-10 at 1024x1024, 162 layers)",
        f"{D2_EXP}/vae_curves.png",
        tables=(f"{D2_EXP}/l1_table.md",),
        summary=fit_line(line),
    )

"""Verdict rules for the PDI paper's claims D1-D2 (Sato & Kimura).

D1 reads ``results/<profile>/d1_pdi_weight_variance/weight_variance.csv`` (``init=pdi`` with
``init.variance_every > 0``); D2 reads ``summary.csv`` and ``metrics.csv`` of
``results/<profile>/d2_pdi_vae/`` (``task=train_vae``, arms in the ``arm`` column).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims.decide import fit_line, needs_text, replicates_needed
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
#: "Close to 2 / n_in": within 25% of it. The other initializers swept start far outside this
#: band: LeCun at 1/2 of it, Xavier at fan_in / (fan_in + fan_out) (1/3 for conv 2 of the quick
#: CNN) and PyTorch's default at 1/6.
D1_CLOSE_TOL = 0.25
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
    """Per (base, seed, layer): variance / (2 / fan_in) at the first and the last record."""
    table = _completed(table).copy()
    if table.empty:
        raise NotRun("no completed run in weight_variance.csv")
    table["ratio"] = table["variance"] / table["he_variance"]
    table["order"] = table["stage"] * 10**9 + table["step"]
    keys = ["base", SEED, "layer"] if SEED in table.columns else ["base", "layer"]
    # stable: rows of one (base, seed, layer) at the same stage and step keep the CSV's order,
    # on every CPU (numpy's default quicksort picks a different kernel per instruction set)
    ordered = table.sort_values("order", kind="stable")
    grouped = ordered.groupby(keys, sort=True)
    out = grouped.agg(
        fan_in=("fan_in", "first"), start=("ratio", "first"), end=("ratio", "last")
    ).reset_index()
    layer_order = list(dict.fromkeys(table["layer"]))  # module order as recorded
    out["position"] = out["layer"].map(layer_order.index)
    return out


def _close(ratio: float) -> bool:
    return abs(ratio - 1.0) <= D1_CLOSE_TOL


@evaluator("D1", experiment=D1_EXP)
def d1_weight_variance(results_dir: Path, profile: str) -> Verdict:
    """Does the conv-2 variance land within 25% of 2 / n_in, and did it move there? (medians
    over seeds of Var(W) / (2 / fan_in) at the start and the end of PDI)

    - reproduced: He's ends within 25% of 1 (it starts there) and every other base's does;
    - partly: He's stays and some other base lands there or moves towards it;
    - contradicted: otherwise, when every seed shows the opposite: He's leaves the band in every
      seed, or every other base moves away from 1 in every seed (no interval: seeds only);
    - inconclusive: otherwise (the seeds disagree: more seeds or PDI steps decide).
    """
    table = read_table(results_dir, D1_EXP, "weight_variance", completed=False)
    ratios = variance_ratios(table)
    layer = ratios[ratios["position"] == D1_LAYER_POSITION]
    per_base = layer.groupby("base")[["start", "end"]].median()
    if "he" not in per_base.index or len(per_base) < 2:
        raise NotRun("D1 needs base=he and at least one other base initializer")
    others = per_base.drop(index="he")
    he_stays = _close(per_base.loc["he", "end"])
    landed = [_close(r.end) for r in others.itertuples()]
    moved = [abs(math.log(r.end)) < abs(math.log(r.start)) for r in others.itertuples()]
    he_seeds = layer[layer["base"] == "he"]
    he_left = bool(len(he_seeds)) and not any(_close(r) for r in he_seeds["end"])
    others_seeds = layer[layer["base"] != "he"]
    away = [abs(math.log(r.end)) > abs(math.log(r.start)) for r in others_seeds.itertuples()]
    if he_stays and all(landed):
        status = REPRODUCED
    elif he_stays and (any(landed) or any(moved)):
        status = PARTLY
    elif he_left or (away and all(away)):
        status = CONTRADICTED
    else:
        status = INCONCLUSIVE
    name, fan_in = layer["layer"].iloc[0], int(layer["fan_in"].iloc[0])
    moves = ", ".join(f"{b} {r.start:.2f}->{r.end:.2f}" for b, r in per_base.iterrows())
    hidden = ratios[ratios["position"] < ratios["position"].max()]
    # bases in alphabetical order, as in the moves above and the scale line
    all_layers = hidden.groupby(["base", "layer"], sort=True)["end"].median()
    spread = ", ".join(
        f"{b}: {min(all_layers[b]):.2f}..{max(all_layers[b]):.2f}"
        for b in all_layers.index.unique(level="base")
    )
    measured = (
        f"layer 2 ({name}, fan_in {fan_in}) Var(W) / (2/fan_in), start->end of PDI (median over "
        f"seeds): {moves}; within {D1_CLOSE_TOL:.0%} of 2/fan_in at the end: he "
        f"{'yes' if he_stays else 'no'} (it starts there), others {sum(landed)}/{len(landed)}; "
        f"moved towards it: {sum(moved)}/{len(moved)}. Hidden layers' end ratios: {spread}"
    )
    seeds = table[SEED].nunique() if SEED in table else 1
    scale = (
        f"{seeds} seed(s), {int(table['step'].max())} PDI steps in the "
        f"last stage, bases {', '.join(per_base.index)}"
    )
    summary = (
        f"layer-2 Var/(2/n_in) end: he {per_base.loc['he', 'end']:.2f}; others within 25% "
        f"{sum(landed)}/{len(landed)}, moved towards 1 {sum(moved)}/{len(moved)}"
    )
    if status == INCONCLUSIVE:
        summary += "; seeds disagree: more seeds decide"
    summary += f"; {seeds} seed(s), {int(table['step'].max())} steps"
    return Verdict(
        status,
        measured,
        scale,
        f"{D1_EXP}/weight_variance.png",
        summary=fit_line(summary),
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


@evaluator("D2", experiment=D2_EXP)
def d2_vae_l1(results_dir: Path, profile: str) -> Verdict:
    """Final test L1 and learning-curve roughness, He vs PDI, against Table 1's relative gain
    (a mean "beats" another when lower by more than 2 standard errors of the difference):

    - reproduced: PDI beats He and He given PDI's extra steps, gains >= half the paper's
      relative gain, and is no rougher and fails no more often than He;
    - partly: PDI beats He, or is steadier and fails less often;
    - contradicted: otherwise, when He beats PDI (the opposite direction, beyond 2 s.e.);
    - inconclusive: otherwise (the difference is within 2 s.e.: the verdict says how many seeds
      would put it beyond, were the mean and spread what they are).
    """
    summary = read_table(results_dir, D2_EXP, "summary", completed=False)
    metrics = read_table(results_dir, D2_EXP, "metrics", completed=False)
    summary[ARM] = summary[ARM].map(arm_of)
    metrics[ARM] = metrics[ARM].map(arm_of)
    done = summary[summary[STATUS] == COMPLETED]
    arms = {a: done[done["arm"] == a]["test_l1"].astype(float) for a in ARMS}
    arms = {a: v for a, v in arms.items() if len(v)}
    if "he" not in arms or "pdi" not in arms:
        raise NotRun("D2 needs completed runs of both He and PDI")
    failed = {a: int((summary[summary["arm"] == a][STATUS] != COMPLETED).sum()) for a in arms}
    stats = {a: _mean_se(v) for a, v in arms.items()}
    rough = roughness(metrics)
    run_arm = metrics.drop_duplicates(RUN).set_index(RUN)["arm"]
    rough_arm = {a: float(rough[run_arm[rough.index] == a].mean()) for a in arms}

    def beats(arm: str) -> bool:  # PDI's mean L1 lower by more than 2 standard errors
        (m_pdi, se_pdi), (m_arm, se_arm) = stats["pdi"], stats[arm]
        return m_arm - m_pdi > 2.0 * math.hypot(se_pdi, se_arm)

    gain = 1.0 - stats["pdi"][0] / stats["he"][0]
    paper_gain = 1.0 - PAPER_L1_PDI / PAPER_L1_HE
    significant = beats("he")
    matched = "he_matched" not in arms or beats("he_matched")
    steadier = rough_arm["pdi"] <= rough_arm["he"] and failed["pdi"] <= failed["he"]
    (m_pdi, se_pdi), (m_he, se_he) = stats["pdi"], stats["he"]
    he_beats = m_pdi - m_he > 2.0 * math.hypot(se_pdi, se_he)
    if significant and matched and gain >= D2_GAIN_SHARE * paper_gain and steadier:
        status = REPRODUCED
    elif significant or (steadier and failed["pdi"] < failed["he"]):
        status = PARTLY
    elif he_beats:
        status = CONTRADICTED
    else:
        status = INCONCLUSIVE
    l1 = ", ".join(f"{a} {m:.4f}+-{se:.4f} (n={len(arms[a])})" for a, (m, se) in stats.items())
    rough_text = ", ".join(f"{a} {r:.4f}" for a, r in rough_arm.items())
    measured = (
        f"final test L1 per value (mean +- s.e.): {l1}; PDI vs He {gain:+.1%} "
        f"({'' if significant else 'not '}beyond 2 s.e.; the paper: He {PAPER_L1_HE}, PDI "
        f"{PAPER_L1_PDI}, {paper_gain:.1%})"
        + (
            f"; vs He with PDI's extra steps: {'' if matched else 'not '}beyond 2 s.e."
            if "he_matched" in arms
            else ""
        )
        + f"; curve roughness (mean |log loss - rolling median|): {rough_text}; "
        f"failed/diverged runs: " + ", ".join(f"{a} {n}" for a, n in failed.items())
    )
    n = min(len(arms["pdi"]), len(arms["he"]))
    line = f"final L1 PDI vs He {gain:+.1%} (paper {paper_gain:.1%}), "
    line += f"{'' if significant else 'not '}beyond 2 s.e."
    if "he_matched" in arms:
        line += f"; vs matched He: {'' if matched else 'not '}beyond"
    if status == INCONCLUSIVE:
        sd = math.hypot(se_pdi, se_he) * math.sqrt(n)
        line += "; " + needs_text(replicates_needed(m_he - m_pdi, sd), "seeds")
    line += f"; {n} seeds/arm"
    return Verdict(
        status,
        measured,
        f"{len(summary)} runs in {len(arms)} arms; absolute L1 depends on data and resolution",
        f"{D2_EXP}/vae_curves.png",
        tables=(f"{D2_EXP}/l1_table.md",),
        summary=fit_line(line),
    )

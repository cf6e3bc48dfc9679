"""E4/E5 benchmark statistics, verdict rules and plot script on synthetic selected.csv frames."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from initlab.analysis.benchmark import (
    bootstrap_median,
    by_depth_table,
    complete_sets,
    complete_splits,
    detectable_shift,
    friedman,
    holm,
    mean_ranks,
    min_attainable_p,
    nemenyi_cd,
    rank_table,
    score_table,
    split_scores,
    wilcoxon_vs,
)
from initlab.claims import CLAIMS, all_claims
from initlab.papers.snn.claims_benchmark import (
    BASELINES_EXP,
    E4_FIGURE,
    FNN_EXP,
    FNN_METHODS,
    HTRU2_EXP,
    METHOD_OF_ARM,
    TOX21_EXP,
    comparisons,
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


def split_frame(
    n_sets: int, splits: int, offsets: dict[str, float | str], seed: int = 0
) -> pd.DataFrame:
    """grid_search selections of the 7 FNNs on ``n_sets`` sets x ``splits`` split seeds (the
    ``data.dataset``/``data.seed`` columns of the KEEL sweep). Per set a random base score;
    SNN scores the base, another method the base + its offset, or, for ``"alt"``, the base
    +- 0.01 in turn over the sets (as many wins as losses for SNN: no effect)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_sets):
        base = float(rng.uniform(0.6, 0.9))
        for split in range(splits):
            for j, method in enumerate(FNN_METHODS):
                offset = offsets.get(method, 0.0) if method != "snn" else 0.0
                if offset == "alt":
                    offset = 0.01 if (i + j) % 2 else -0.01
                rows.append(
                    {
                        "arm": f"fnn_{method}",
                        "data.dataset": f"set{i:02d}",
                        "data.seed": split,
                        "selection": "overall",
                        "test_score": base + float(offset) + 0.001 * split,
                        "tied_members": 1,
                    }
                )
    return _selected(rows)


OTHERS = [m for m in FNN_METHODS if m != "snn"]


@pytest.mark.parametrize(
    ("offsets", "status", "counts"),
    [
        ({m: -0.03 for m in OTHERS}, "reproduced", "6 better, 0 worse, 0 n.s."),
        ({m: "alt" for m in OTHERS}, "inconclusive", "0 better, 0 worse, 6 n.s."),
        ({**{m: "alt" for m in OTHERS}, **{m: -0.05 for m in OTHERS[:3]}}, "partly", "3 better"),
        ({**{m: -0.03 for m in OTHERS}, "resnet": 0.02}, "contradicted", "5 better, 1 worse"),
    ],
)
def test_e4_rule_on_36_sets_x_2_splits(tmp_path, offsets, status, counts):
    """Per comparison: Holm-corrected Wilcoxon over 36 sets; overall: all reproduced ->
    reproduced, some -> partly, none -> inconclusive, any FNN significantly better -> contradicted
    (even with 5 comparisons reproduced)."""
    root = write_e4(tmp_path / "quick", split_frame(36, 2, offsets))
    verdict = e4_uci_ranks(root, "quick")
    assert verdict.status == status, verdict.line
    assert counts in verdict.line and "36 sets x 2 splits" in verdict.line
    assert "averaged over the seeds" in verdict.measured
    if status == "inconclusive":  # says what would decide
        assert "detectable median diff" in verdict.measured and "Nemenyi CD" in verdict.measured


def test_e4_comparisons_holm_effect_sizes_and_detectable_difference():
    frame = split_frame(36, 1, {"msra": -0.02, "batchnorm": "alt"})
    scores = score_table([frame.assign(method=frame["arm"].map(METHOD_OF_ARM))])
    comp = comparisons(scores).set_index("method")
    msra, bn = comp.loc["msra"], comp.loc["batchnorm"]
    assert msra["median_diff"] == pytest.approx(0.02)
    assert msra["ci_low"] == pytest.approx(0.02) and msra["ci_high"] == pytest.approx(0.02)
    assert msra["verdict"] == "reproduced" and msra["p_holm"] < 0.05
    assert bn["verdict"] == "inconclusive" and bn["p_holm"] == pytest.approx(1.0)
    # rejected: msra alone; the 5 others would be tested at 0.05 / 5
    assert bn["level"] == pytest.approx(0.01)
    # +-0.01 around 0: moving every difference to median d needs d > 0.01 to make them all
    # positive (36 of one sign: p ~ 1e-7 < 0.01); d just above 0.01 suffices, far below not
    assert 0.0 < bn["detectable"] <= 0.0101
    assert bn["cd"] == pytest.approx(nemenyi_cd(7, 36))


def test_holm_friedman_nemenyi_and_bootstrap():
    adjusted = holm([0.01, 0.04, math.nan, 0.03])
    assert adjusted[0] == pytest.approx(0.03) and math.isnan(adjusted[2])
    assert adjusted[3] == pytest.approx(0.06) and adjusted[1] == pytest.approx(0.06)  # monotone
    # Demsar (2006), Table 5: q_0.05 = 2.949 for k = 7, 3.268 for k = 12
    assert nemenyi_cd(7, 1) == pytest.approx(2.949 * math.sqrt(7 * 8 / 6), rel=1e-3)
    assert nemenyi_cd(12, 1) == pytest.approx(3.268 * math.sqrt(12 * 13 / 6), rel=1e-3)
    scores = pd.DataFrame({"a": [3.0, 3, 3, 3], "b": [2.0, 2, 2, 2], "c": [1.0, 1, 1, 1]})
    fr = friedman(scores)  # the same order on all 4 sets: chi2 = 12n/(k(k+1)) * sum(R^2) - ...
    assert fr["chi2"] == pytest.approx(12 * 4 / 12 * (1 + 4 + 9 - 3 * 16 / 4))
    assert fr["p_chi2"] == pytest.approx(math.exp(-fr["chi2"] / 2))  # chi2 with 2 df
    low, high = bootstrap_median(np.arange(11.0), 2000, seed=0)
    assert low < 5.0 < high and (low, high) == bootstrap_median(np.arange(11.0), 2000, seed=0)
    assert math.isinf(detectable_shift(np.array([0.01, -0.01, 0.0]), 0.05))  # 3 sets: never


def test_complete_splits_drops_sets_with_a_missing_split():
    frame = split_frame(3, 2, {})
    long = split_scores([frame.assign(method=frame["arm"].map(METHOD_OF_ARM))])
    long = long[~((long["dataset"] == "set01") & (long["split"] == 1) & (long["method"] == "msra"))]
    kept, dropped = complete_splits(long)
    assert dropped == ["set01"] and sorted(kept["dataset"].unique()) == ["set00", "set02"]


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
    assert verdict.status == "inconclusive"
    assert "p = 0.125" in verdict.measured and "baselines not run" in verdict.measured


def test_e4_baselines_are_reported_not_graded(tmp_path):
    fnn = fnn_frame(8, 0.02)
    root = write_e4(tmp_path / "full", fnn, baseline_frame(8, 0.05, fnn))
    verdict = e4_uci_ranks(root, "quick")
    assert "SNN position 2 of 12" in verdict.measured and "SVM -5.0 pts" in verdict.measured
    assert verdict.status == e4_uci_ranks(write_e4(tmp_path / "alone", fnn), "quick").status


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


def test_report_writes_tables_and_does_nothing_without_csvs(tmp_path, monkeypatch):
    from initlab.data import keel
    from initlab.papers.snn import report_benchmark

    # the KEEL files are not read here (tests/data/test_keel.py checks paper_differences)
    monkeypatch.setattr(keel, "paper_differences", lambda name: ["x"] if name == "iris" else [])

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
    assert "3.244" in text and "SNN" in text  # the paper's rank beside ours
    assert "| ring | ringnorm | refused (unusable) |" in text  # the KEEL -> UCI-121 names
    assert "36 used; 1 of them differ from the paper's copies: iris)" in text
    comp = pd.read_csv(root / FNN_EXP / "comparisons.csv")
    assert sorted(comp["family"].value_counts().items()) == [("all", 11), ("fnn", 6)]
    assert len(pd.read_csv(root / FNN_EXP / "scores_by_split.csv")) == 5 * 12
    assert (root / FNN_EXP / "mean_ranks.png").exists() and (root / E4_FIGURE).exists()
    tox = (root / TOX21_EXP / "by_depth.md").read_text()
    assert "SNN (paper)" in tox and "0.837" in tox
    assert "0.9803" in (root / HTRU2_EXP / "by_depth.md").read_text()

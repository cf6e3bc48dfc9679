"""D1 and D2 verdict rules on synthetic CSVs built to reach each of their outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from initlab.claims import CLAIMS, all_claims

LAYERS = [("convs.0.0", 9), ("convs.1.0", 144), ("convs.2.0", 288), ("classifier", 288)]
#: the quick starts (conf/arm/d1_*): layer-2 Var(W) / (2 / fan_in) at the start of PDI
STARTS = {"d1_he_div4": 0.25, "d1_he": 1.0, "d1_he_x4": 4.0, "d1_torch": 1 / 6}
SEEDS = range(5)
JITTER = (-0.02, -0.01, 0.0, 0.01, 0.02)  # per seed, on the log scale: intervals have a width


def _d1_table(ends: dict[str, float | list[float]], unsettled: int = 0) -> pd.DataFrame:
    """Each start runs 5 seeds from STARTS[start] to ``ends[start]`` (one value: every seed,
    jittered; a list: per seed); the first ``unsettled`` runs reached their step cap."""
    rows = []
    k = 0
    for arm, end in ends.items():
        for seed in SEEDS:
            stop = end[seed] if isinstance(end, list) else end * np.exp(JITTER[seed])
            settled = k >= unsettled
            k += 1
            start = STARTS[arm] * np.exp(JITTER[::-1][seed])
            for step, ratio in ((0, start), (10, (start + stop) / 2), (200, stop)):
                for layer, fan_in in LAYERS:
                    he = 2.0 / fan_in
                    rows.append(
                        {"arm": arm, "seed": seed, "status": "completed", "base": "he",
                         "layer": layer, "fan_in": fan_in, "variance": ratio * he,
                         "he_variance": he, "stage": 0, "step": step, "settled": settled}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def _d1(tmp_path, table):
    folder = tmp_path / "quick" / "d1_pdi_weight_variance"
    folder.mkdir(parents=True)
    table.to_csv(folder / "weight_variance.csv", index=False)
    all_claims()
    return CLAIMS["D1"].verdict(tmp_path / "quick", "quick")


def test_d1_reproduced_when_starts_from_both_sides_land_at_he(tmp_path):
    ends = {"d1_he_div4": 0.95, "d1_he": 1.02, "d1_he_x4": 1.1, "d1_torch": 0.9}
    verdict = _d1(tmp_path, _d1_table(ends))
    assert verdict.status == "reproduced", verdict.measured
    assert "3/3 starts off it moved towards it" in verdict.line
    assert "in [0.8,1.25] 4/4" in verdict.line and "settled 20/20" in verdict.line


def test_d1_partly_when_attracted_but_landing_short_or_unsettled(tmp_path):
    short = {"d1_he_div4": 0.5, "d1_he": 1.05, "d1_he_x4": 2.0, "d1_torch": 0.4}
    verdict = _d1(tmp_path / "a", _d1_table(short))
    assert verdict.status == "partly", verdict.measured
    assert "in [0.8,1.25] 1/4" in verdict.line
    # landing close everywhere, but one run hit its step cap before its variance settled
    close = {"d1_he_div4": 0.95, "d1_he": 1.02, "d1_he_x4": 1.1, "d1_torch": 0.9}
    verdict = _d1(tmp_path / "b", _d1_table(close, unsettled=1))
    assert verdict.status == "partly", verdict.measured
    assert "settled 19/20" in verdict.line


def test_d1_contradicted_when_every_start_grows_the_same_way(tmp_path):
    """The referee's case: a growth by the same factor moves the starts below 2 / fan_in
    towards it (and keeps He in the band) but carries He x 4 away: no attraction."""
    ends = {arm: 1.15 * start for arm, start in STARTS.items()}
    verdict = _d1(tmp_path, _d1_table(ends))
    assert verdict.status == "contradicted", verdict.measured
    assert "d1_he_x4 AWAY 4.00->4.60" in verdict.line
    assert "2/3 starts off it moved towards it" in verdict.line


def test_d1_contradicted_when_he_leaves_the_band(tmp_path):
    ends = {"d1_he_div4": 0.6, "d1_he": 1.6, "d1_he_x4": 2.0, "d1_torch": 0.5}
    verdict = _d1(tmp_path, _d1_table(ends))
    assert verdict.status == "contradicted", verdict.measured
    assert "He's leaves the band: d1_he" in verdict.measured


def test_d1_inconclusive_when_the_seeds_of_a_start_disagree(tmp_path):
    """He x 4 ends nearer in some seeds and farther in others: its pull interval holds 0."""
    ends = {"d1_he_div4": 0.6, "d1_he": 1.0, "d1_he_x4": [2.0, 6.0, 3.0, 7.0, 4.5],
            "d1_torch": 0.5}  # fmt: skip
    verdict = _d1(tmp_path, _d1_table(ends))
    assert verdict.status == "inconclusive", verdict.measured
    assert "needs >= " in verdict.line and "seeds" in verdict.line


def test_d1_inconclusive_without_a_start_above(tmp_path):
    ends = {"d1_he_div4": 0.95, "d1_he": 1.0, "d1_torch": 0.9}
    verdict = _d1(tmp_path, _d1_table(ends))
    assert verdict.status == "inconclusive", verdict.measured
    assert "attraction untested" in verdict.line


def _d2(tmp_path, l1: dict[str, list[float]]):
    folder = tmp_path / "quick" / "d2_pdi_vae"
    folder.mkdir(parents=True)
    summary, metrics = [], []
    rng = np.random.default_rng(0)
    for arm, values in l1.items():
        for seed, value in enumerate(values):
            run = f"arm=d2_{arm},seed={seed}"
            summary.append({"run": run, "arm": f"d2_{arm}", "seed": seed, "status": "completed",
                            "test_l1": value})  # fmt: skip
            for step in range(5, 205, 5):
                loss = np.exp(-step / 100) * np.exp(0.05 * rng.standard_normal())
                metrics.append({"run": run, "arm": f"d2_{arm}", "seed": seed, "phase": "train",
                                "step": step, "train_batch_loss": loss})  # fmt: skip
    pd.DataFrame(summary).to_csv(folder / "summary.csv", index=False)
    pd.DataFrame(metrics).to_csv(folder / "metrics.csv", index=False)
    all_claims()
    return CLAIMS["D2"].verdict(tmp_path / "quick", "quick")


HE = [0.24, 0.245, 0.238, 0.242, 0.241]


def test_d2_reproduced_when_pdi_beats_matched_he_by_the_papers_margin(tmp_path):
    verdict = _d2(tmp_path, {"he": HE, "he_matched": [0.236, 0.24, 0.235, 0.238, 0.237],
                             "pdi": [0.186, 0.19, 0.184, 0.188, 0.185]})  # fmt: skip
    assert verdict.status == "reproduced", verdict.measured
    assert verdict.line.startswith("final L1 PDI vs matched He +21.")


def test_d2_partly_when_pdi_beats_matched_he_by_less_than_half_the_papers_gain(tmp_path):
    verdict = _d2(tmp_path, {"he": HE, "he_matched": [0.225, 0.226, 0.224, 0.225, 0.226],
                             "pdi": [0.215, 0.216, 0.214, 0.215, 0.216]})  # fmt: skip
    assert verdict.status == "partly", verdict.measured
    assert "excludes 11.5% (half the paper's)" in verdict.line


def test_d2_contradicted_when_the_interval_excludes_the_papers_effect(tmp_path):
    """PDI beats plain He by 8%, but He given PDI's extra steps does as well: the gain over the
    matched control is near 0 and its interval excludes half the paper's 23.1%."""
    verdict = _d2(tmp_path, {"he": HE, "he_matched": [0.221, 0.224, 0.22, 0.223, 0.222],
                             "pdi": [0.222, 0.221, 0.223, 0.22, 0.224]})  # fmt: skip
    assert verdict.status == "contradicted", verdict.measured
    assert "excludes 11.5% (half the paper's)" in verdict.line
    assert "over plain He: +8." in verdict.measured


def test_d2_inconclusive_when_the_interval_holds_both_zero_and_the_papers_effect(tmp_path):
    verdict = _d2(tmp_path, {"he_matched": [0.30, 0.18, 0.26], "pdi": [0.15, 0.28, 0.22]})
    assert verdict.status == "inconclusive", verdict.measured
    assert "needs >= " in verdict.line and "seeds/arm" in verdict.line


def test_d2_against_plain_he_where_no_matched_arm_ran(tmp_path):
    verdict = _d2(tmp_path, {"he_full": HE, "pdi_full": [0.186, 0.19, 0.184, 0.188, 0.185]})
    assert verdict.status == "reproduced", verdict.measured
    assert verdict.line.startswith("final L1 PDI vs He ")


def test_missing_results_are_not_run_yet(tmp_path):
    all_claims()
    for claim_id in ("D1", "D2"):
        verdict = CLAIMS[claim_id].verdict(tmp_path, "quick")
        assert verdict.status == "not run" and verdict.line == "not run yet"

"""D1 and D2 verdict rules on synthetic CSVs built to reproduce, to contradict and to be
inconclusive."""

from __future__ import annotations

import numpy as np
import pandas as pd

from initlab.claims import CLAIMS, all_claims

LAYERS = [("convs.0.0", 27), ("convs.1.0", 288), ("convs.2.0", 576), ("classifier", 128)]


def _d1_table(
    end_ratio: dict[str, float], start_ratio: dict[str, float], seed_end: dict | None = None
) -> pd.DataFrame:
    """Every seed ends at ``end_ratio`` unless ``seed_end[(base, seed)]`` says otherwise."""
    rows = []
    seed_end = seed_end or {}
    for base in end_ratio:
        for seed in (0, 1):
            end = seed_end.get((base, seed), end_ratio[base])
            for step, ratio in ((0, start_ratio[base]), (50, end)):
                for layer, fan_in in LAYERS:
                    he = 2.0 / fan_in
                    rows.append(
                        {"status": "completed", "seed": seed, "base": base, "layer": layer,
                         "fan_in": fan_in, "variance": ratio * he, "he_variance": he,
                         "stage": 0, "step": step}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def _write_d1(tmp_path, table):
    folder = tmp_path / "quick" / "d1_pdi_weight_variance"
    folder.mkdir(parents=True)
    table.to_csv(folder / "weight_variance.csv", index=False)
    return tmp_path / "quick"


def test_d1_reproduced_when_every_base_lands_near_he(tmp_path):
    all_claims()
    start = {"he": 1.0, "xavier": 0.33, "lecun": 0.5}
    results = _write_d1(tmp_path, _d1_table({"he": 1.05, "xavier": 0.9, "lecun": 1.1}, start))
    verdict = CLAIMS["D1"].verdict(results, "quick")
    assert verdict.status == "reproduced", verdict.measured
    assert "xavier 0.33->0.90" in verdict.measured


def test_d1_contradicted_when_every_seed_moves_away_and_he_drifts(tmp_path):
    all_claims()
    start = {"he": 1.0, "xavier": 0.33, "lecun": 0.5}
    results = _write_d1(tmp_path, _d1_table({"he": 2.0, "xavier": 0.2, "lecun": 0.4}, start))
    verdict = CLAIMS["D1"].verdict(results, "quick")
    assert verdict.status == "contradicted", verdict.line
    assert verdict.line.startswith("layer-2 Var/(2/n_in) end: he 2.00")


def test_d1_inconclusive_when_the_seeds_disagree(tmp_path):
    """He drifts out of the band in one seed only, the other bases move away in one seed and
    towards 2/n_in in the other: the median drifts, no seed-wide direction decides."""
    all_claims()
    start = {"he": 1.0, "xavier": 0.33, "lecun": 0.5}
    seed_end = {("he", 0): 1.1, ("xavier", 1): 0.5, ("lecun", 1): 0.7}
    ends = {"he": 2.0, "xavier": 0.2, "lecun": 0.4}
    results = _write_d1(tmp_path, _d1_table(ends, start, seed_end))
    verdict = CLAIMS["D1"].verdict(results, "quick")
    assert verdict.status == "inconclusive", verdict.line
    assert "more seeds decide" in verdict.line


def test_d1_partly_when_others_move_but_stop_short(tmp_path):
    all_claims()
    start = {"he": 1.0, "xavier": 0.33, "lecun": 0.5}
    results = _write_d1(tmp_path, _d1_table({"he": 1.1, "xavier": 0.5, "lecun": 0.6}, start))
    assert CLAIMS["D1"].verdict(results, "quick").status == "partly"


def _write_d2(tmp_path, l1: dict[str, list[float]], noise: dict[str, float]):
    folder = tmp_path / "quick" / "d2_pdi_vae"
    folder.mkdir(parents=True)
    summary, metrics = [], []
    rng = np.random.default_rng(0)
    for arm, values in l1.items():
        for seed, value in enumerate(values):
            run = f"+arm=d2_{arm},seed={seed}"
            summary.append({"run": run, "arm": f"d2_{arm}", "seed": seed, "status": "completed",
                            "test_l1": value})  # fmt: skip
            steps = np.arange(5, 205, 5)
            loss = np.exp(-steps / 100) * np.exp(noise[arm] * rng.standard_normal(len(steps)))
            for step, value_ in zip(steps, loss, strict=True):
                metrics.append({"run": run, "arm": f"d2_{arm}", "seed": seed, "phase": "train",
                                "step": step, "train_batch_loss": value_})  # fmt: skip
    pd.DataFrame(summary).to_csv(folder / "summary.csv", index=False)
    pd.DataFrame(metrics).to_csv(folder / "metrics.csv", index=False)
    return tmp_path / "quick"


def test_d2_reproduced_when_pdi_is_clearly_lower_and_smoother(tmp_path):
    all_claims()
    results = _write_d2(
        tmp_path,
        {"he": [0.24, 0.245, 0.238], "pdi": [0.186, 0.19, 0.184]},
        {"he": 0.3, "pdi": 0.05},
    )
    verdict = CLAIMS["D2"].verdict(results, "quick")
    assert verdict.status == "reproduced", verdict.measured


def test_d2_only_partly_when_he_with_pdis_extra_steps_does_as_well(tmp_path):
    all_claims()
    results = _write_d2(
        tmp_path,
        {
            "he": [0.24, 0.245, 0.238],  # the paper-scale arms: conf/arm/d2_*_full.yaml
            "he_matched_full": [0.18, 0.185, 0.183],
            "pdi_full": [0.186, 0.19, 0.184],
        },
        {"he": 0.3, "he_matched_full": 0.3, "pdi_full": 0.05},
    )
    verdict = CLAIMS["D2"].verdict(results, "quick")
    assert verdict.status == "partly", verdict.measured
    assert "vs He with PDI's extra steps: not beyond 2 s.e." in verdict.measured


def test_d2_inconclusive_when_pdi_is_no_better_within_noise(tmp_path):
    all_claims()
    results = _write_d2(
        tmp_path,
        {"he": [0.20, 0.21, 0.19], "pdi": [0.21, 0.20, 0.22]},
        {"he": 0.05, "pdi": 0.3},
    )
    verdict = CLAIMS["D2"].verdict(results, "quick")
    assert verdict.status == "inconclusive", verdict.line
    assert "needs >= " in verdict.line and "seeds" in verdict.line


def test_d2_contradicted_when_he_is_clearly_lower(tmp_path):
    all_claims()
    results = _write_d2(
        tmp_path,
        {"he": [0.186, 0.19, 0.184], "pdi": [0.24, 0.245, 0.238]},
        {"he": 0.05, "pdi": 0.3},
    )
    verdict = CLAIMS["D2"].verdict(results, "quick")
    assert verdict.status == "contradicted", verdict.line


def test_missing_results_are_not_run_yet(tmp_path):
    all_claims()
    for claim_id in ("D1", "D2"):
        verdict = CLAIMS[claim_id].verdict(tmp_path, "quick")
        assert verdict.status == "not run" and verdict.line == "not run yet"

"""The B4 / B5 rules on small synthetic CSVs built to reproduce, to contradict and to be
inconclusive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims import CLAIMS
from initlab.papers.angles.claims_distance import RATIO_EXP, TRAINED_EXP

L = 100


def write(results: Path, experiment: str, table: str, frame: pd.DataFrame) -> None:
    (results / experiment).mkdir(parents=True, exist_ok=True)
    frame.to_csv(results / experiment / f"{table}.csv", index=False)


def verdicts(results: Path) -> dict[str, str]:
    return {i: CLAIMS[i].verdict(results, "quick").status for i in ("B4", "B5")}


def ratio_rows(
    arch: str, data_name: str, ratio_of_layer, draws: int = 1, jitter: float = 0.0
) -> pd.DataFrame:
    """``draws`` networks, each the curve times one factor exp(N(0, jitter)) past the input."""
    layers = np.arange(L + 1)
    rng = np.random.default_rng(sum(map(ord, arch + data_name)))
    frames = []
    for draw in range(draws):
        ratio = np.asarray(ratio_of_layer(layers), dtype=float).copy()
        ratio[1:] *= np.exp(rng.normal(0, jitter))
        frames.append(
            pd.DataFrame(
                {
                    "status": "completed",
                    "arch": arch,
                    "data_name": data_name,
                    "depth": L,
                    "width": 64,
                    "stage": "init",
                    "inputs": "data",
                    "draw": draw,
                    "layer": layers,
                    "ratio": ratio,
                }
            )
        )
    return pd.concat(frames)


def write_ratios(results: Path, mlp, others, draws: int = 1, jitter: float = 0.0) -> None:
    frames = []
    for data_name in ("digits_flat", "synthetic"):
        frames.append(ratio_rows("mlp", data_name, mlp, draws, jitter))
        frames += [ratio_rows(a, data_name, others, draws, jitter) for a in ("resnet", "resnet_bn")]
    write(results, RATIO_EXP, "angles", pd.concat(frames))


ARCHS = ("mlp", "resnet", "resnet_bn", "resnet_fixup", "resnet_scale", "resnet_bn_zero")


def write_draws(results: Path, acc_order: list[float], ratio_order: list[float]) -> None:
    """One network per value of ``acc_order`` (init angles increasing: 0.1, 0.5, 1.2, ...)."""
    rows = []
    angles = (0.1, 0.5, 1.2, 1.3, 1.4, 1.5)
    for arch, angle, acc, ratio in zip(
        ARCHS[: len(acc_order)], angles, acc_order, ratio_order, strict=False
    ):
        for draw in range(2):
            base = {"status": "completed", "arch": arch, "data_name": "d", "depth": L}
            base.update(width=64, draw=draw, angle_last_data=angle)
            rows.append({**base, "stage": "init", "ratio_last": 1.1, "test_accuracy": 0.1})
            rows.append({**base, "stage": "trained", "ratio_last": ratio, "test_accuracy": acc})
    write(results, TRAINED_EXP, "draws", pd.DataFrame(rows))


def test_rules_pass_on_data_that_shows_the_claims(tmp_path):
    write_ratios(tmp_path, lambda k: 2.0 - 0.008 * k, lambda k: 2.0 - 0.001 * k)
    write_draws(tmp_path, [0.5, 0.7, 0.9], [1.2, 2.0, 3.0])
    assert verdicts(tmp_path) == {"B4": "reproduced", "B5": "reproduced"}


def test_rules_fail_on_data_that_contradicts_the_claims(tmp_path):
    """B4 with one draw and B5 with three networks cannot decide (no interval; the exact
    Spearman test cannot go below p = 1/3)."""
    write_ratios(tmp_path, lambda k: 2.0 + 0.008 * k, lambda k: 2.0 - 0.001 * k)
    write_draws(tmp_path, [0.9, 0.7, 0.5], [3.0, 2.0, 1.2])
    assert verdicts(tmp_path) == {"B4": "inconclusive", "B5": "inconclusive"}
    b5 = CLAIMS["B5"].verdict(tmp_path, "quick")
    assert "3 nets: p >= 0.33, needs >= 5 nets" in b5.line, b5.line


def test_b4_b5_contradicted_when_enough_draws_and_networks_show_the_opposite(tmp_path):
    """Skip/BN shrink the ratio more than the MLP in every draw (5 draws: the Welch intervals
    lie below 0); six networks ranked against the claim (exact Spearman p = 2/720)."""
    write_ratios(tmp_path, lambda k: 2.0 - 0.001 * k, lambda k: 2.0 - 0.008 * k, 5, 0.01)
    write_draws(tmp_path, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [3.0, 2.5, 2.0, 1.8, 1.5, 1.2])
    found = verdicts(tmp_path)
    assert found["B4"] == found["B5"] == "contradicted", found
    assert "skip/BN below MLP decided in 4/4" in CLAIMS["B4"].verdict(tmp_path, "quick").line


def test_b4_inconclusive_when_the_draws_scatter(tmp_path):
    """Skip/BN slightly below the MLP, draws scattering far more: the verdict names the draws
    that would decide."""
    write_ratios(tmp_path, lambda k: 2.0 - 0.001 * k, lambda k: 2.0 - 0.0012 * k, 3, 0.2)
    verdict = CLAIMS["B4"].verdict(tmp_path, "quick")
    assert verdict.status == "inconclusive", verdict.line
    assert "needs >= " in verdict.line and "draws" in verdict.line


def test_rules_without_results_say_not_run_yet(tmp_path):
    assert set(verdicts(tmp_path).values()) == {"not run"}

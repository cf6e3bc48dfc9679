"""Verdict rules C2 and C3 on small synthetic CSVs built to reach each of their outcomes
(reproduced, partly, contradicted, inconclusive), and the figures' reference law."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from initlab.papers.max_lr.claims import c2_max_lr, c3_fisher, edge_ratios
from initlab.papers.max_lr.figures import reciprocal_scale

DEPTHS = [1, 2, 4, 8, 16, 32, 64]


def write(results: Path, experiment: str, rows: list[dict]) -> None:
    folder = results / experiment
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)


def rows_of(curves: dict, column: str, seeds=(0, 1, 2), sigma=0.0, **extra) -> list[dict]:
    """(arm, depth, seed) rows with ``column`` = curve(L) times a seed jitter (log-normal with
    ``sigma`` when > 0, else +-1%)."""
    rng = np.random.default_rng(5)
    rows = []
    for arm, curve in curves.items():
        for depth in DEPTHS:
            for seed in seeds:
                noise = np.exp(rng.normal(0, sigma)) if sigma else 1 + 0.01 * (seed - 1)
                row = {"arm": arm, "model.depth": depth, "seed": seed, "status": "completed"}
                rows.append({**row, column: curve(depth) * noise, **extra})
    return rows


def c2_rows(curves: dict, sigma=0.0, ratio=1.0, criterion="monotone") -> list[dict]:
    """C2 rows: max_lr from the curves, lambda_max such that max_lr * lambda_max / 2 = ratio."""
    rows = rows_of(curves, "max_lr", sigma=sigma, criterion=criterion)
    for row in rows:
        row["lambda_max"] = 2 * ratio / row["max_lr"] if row["max_lr"] > 0 else 5.0
        row["edge_ratio"] = row["max_lr"] * row["lambda_max"] / 2
    return rows


GOOD_C2 = {
    "resnet_he": lambda L: 0.5 * 0.6**L,
    "resnet_bn": lambda L: 0.8 / L,
    "mlp_he": lambda L: 0.3,
    "resnet_fixup": lambda L: 0.2,
}


def test_c2_reproduced_with_the_edge_ratio_reported(tmp_path) -> None:
    write(tmp_path, "c2_max_lr_depth", c2_rows(GOOD_C2, ratio=1.5))
    verdict = c2_max_lr(tmp_path, "quick")
    assert verdict.status == "reproduced", verdict.measured
    assert "criterion: monotone" in verdict.measured
    assert "resnet_he max_lr*lambda_max/2 = 1.5..1.5" in verdict.measured
    assert "lr*lam/2 He 1.5, BN 1.5" in verdict.line


def test_c2_partly_contradicted_and_inconclusive(tmp_path) -> None:
    half = {"resnet_he": lambda L: 0.5 * 0.6**L, "resnet_bn": lambda L: 0.8 / L**3}
    write(tmp_path / "half", "c2_max_lr_depth", c2_rows(half))
    verdict = c2_max_lr(tmp_path / "half", "quick")
    assert verdict.status == "partly", verdict.line
    assert "BN: p -3 [" in verdict.line and "(against)" in verdict.line
    bad = {"resnet_he": lambda L: 0.5 / L, "resnet_bn": lambda L: 0.8 * 0.5**L}
    write(tmp_path / "bad", "c2_max_lr_depth", c2_rows(bad))
    verdict = c2_max_lr(tmp_path / "bad", "quick")
    assert verdict.status == "contradicted", verdict.line
    assert verdict.line.startswith("He: pow p -1 [") and "(against)" in verdict.line
    flat = {"resnet_he": lambda L: 0.3, "resnet_bn": lambda L: 0.3}
    write(tmp_path / "noisy", "c2_max_lr_depth", c2_rows(flat, sigma=3.0))
    assert c2_max_lr(tmp_path / "noisy", "quick").status == "inconclusive"


def test_c2_grades_only_the_stability_edge_and_counts_runs_without_a_stable_lr(tmp_path) -> None:
    # the blow-up rule (or older runs without the column) is not GD's stability edge
    write(tmp_path / "old", "c2_max_lr_depth", c2_rows(GOOD_C2, criterion="diverge"))
    verdict = c2_max_lr(tmp_path / "old", "quick")
    assert verdict.status == "inconclusive" and "task.criterion=monotone" in verdict.line
    rows = [{k: v for k, v in r.items() if k != "criterion"} for r in c2_rows(GOOD_C2)]
    write(tmp_path / "none", "c2_max_lr_depth", rows)
    assert c2_max_lr(tmp_path / "none", "quick").status == "inconclusive"
    # a run with no stable lr is left out of the fits and named
    rows = c2_rows(GOOD_C2)
    rows[0]["max_lr"] = 0.0
    write(tmp_path / "zero", "c2_max_lr_depth", rows)
    verdict = c2_max_lr(tmp_path / "zero", "quick")
    assert verdict.status == "reproduced"
    assert "1 run(s) with no stable lr (left out of the fits): resnet_he L=1" in verdict.measured


def test_edge_ratio_computed_when_the_column_is_missing() -> None:
    frame = pd.DataFrame({"max_lr": [0.5, 0.1], "lambda_max": [4.0, 0.0]})
    ratios = edge_ratios(frame)
    assert ratios.iloc[0] == pytest.approx(1.0) and np.isnan(ratios.iloc[1])


GOOD_GAUSS = {
    "mlp_he": lambda L: 2.0,
    "resnet_he": lambda L: 1.5**L,
    "resnet_bn": lambda L: 3 * L**0.5,
}


def fisher_rows(gauss: dict, true: dict | None = None, sigma=0.0) -> list[dict]:
    rows = [{**r, "matrix": "fisher_gauss"} for r in rows_of(gauss, "lambda_max", sigma=sigma)]
    if true:
        rows += [{**r, "matrix": "fisher_true"} for r in rows_of(true, "lambda_max")]
    return rows


def test_c3_graded_on_the_gaussian_fisher_with_zeros_of_the_true_one_counted(tmp_path) -> None:
    true = {
        "mlp_he": lambda L: 2.0,
        "resnet_he": lambda L: 1.5**L if L < 16 else 0.0,  # saturated softmax: exactly 0
        "resnet_bn": lambda L: L**2,
    }
    write(tmp_path, "c3_fisher_depth", fisher_rows(GOOD_GAUSS, true))
    verdict = c3_fisher(tmp_path, "quick")
    assert verdict.status == "reproduced", verdict.measured  # decided by J^T J alone
    assert "graded: Gaussian-output Fisher (J^T J) (3/3, 0 in 0/63 runs)" in verdict.measured
    assert "cross-entropy Fisher (" in verdict.measured
    assert "exactly 0 in 9/21 runs (L=[16, 32, 64]; left out of the fit)" in verdict.measured
    assert verdict.line.startswith("J^T J 3/3: MLP p ")
    assert "; CE 2/3, 9/63 zero; L=1..64" in verdict.line, verdict.line


def test_c3_partly_contradicted_inconclusive(tmp_path) -> None:
    partly = {**GOOD_GAUSS, "mlp_he": lambda L: 2.0 * L}  # the MLP's Fisher grows linearly
    write(tmp_path / "partly", "c3_fisher_depth", fisher_rows(partly))
    assert c3_fisher(tmp_path / "partly", "quick").status == "partly"
    bad = {"mlp_he": lambda L: 1.5**L, "resnet_he": lambda L: L**0.5, "resnet_bn": lambda L: L**2}
    write(tmp_path / "bad", "c3_fisher_depth", fisher_rows(bad))
    assert c3_fisher(tmp_path / "bad", "quick").status == "contradicted"
    flat = dict.fromkeys(("mlp_he", "resnet_he", "resnet_bn"), lambda L: 1.0)
    write(tmp_path / "noisy", "c3_fisher_depth", fisher_rows(flat, sigma=3.0))
    assert c3_fisher(tmp_path / "noisy", "quick").status == "inconclusive"


def test_c3_without_the_gaussian_fisher_or_enough_depths_is_inconclusive(tmp_path) -> None:
    rows = [{**r, "matrix": "fisher_true"} for r in rows_of(GOOD_GAUSS, "lambda_max")]
    write(tmp_path / "true", "c3_fisher_depth", rows)
    verdict = c3_fisher(tmp_path / "true", "quick")
    assert verdict.status == "inconclusive" and "fisher_gauss decides" in verdict.line
    assert "cross-entropy Fisher (3/3)" in verdict.measured  # shown, never graded
    zeros = {**GOOD_GAUSS, "resnet_he": lambda L: 1.5**L if L < 4 else 0.0}
    write(tmp_path / "zeros", "c3_fisher_depth", fisher_rows(zeros))
    verdict = c3_fisher(tmp_path / "zeros", "quick")
    assert verdict.status == "inconclusive"
    assert "resnet_he: 2 depth(s) with lambda > 0, exactly 0 in 15/21 runs" in verdict.measured


def test_reciprocal_reference_scale() -> None:
    depths = np.array([1.0, 2.0, 4.0, 8.0])
    assert reciprocal_scale(depths, 0.8 / depths) == pytest.approx(0.8)
    # the geometric mean of L * value when the points are not exactly 1/L
    assert reciprocal_scale(depths, np.array([1, 1, 1, 1.0])) == pytest.approx(64 ** (1 / 4))
    with pytest.raises(ValueError):
        reciprocal_scale(depths, np.zeros(4))

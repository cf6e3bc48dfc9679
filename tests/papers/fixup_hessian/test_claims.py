"""Verdict rules A1-A4 on small synthetic CSVs built to reproduce, to contradict and to
be inconclusive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims import all_claims
from initlab.papers.fixup_hessian.claims import (
    a1_fixup_sqrt,
    a2_he_exponential,
    a3_sparse_blocks,
    a4_large_lr,
)

DEPTHS = [1, 2, 4, 8, 16, 32]


def write(results: Path, experiment: str, rows: list[dict]) -> None:
    folder = results / experiment
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)


def depth_rows(curves: dict, column: str, seeds=(0, 1)) -> list[dict]:
    """Rows of (arm, depth, seed) with ``column`` = curve(L) times a small seed-dependent jitter."""
    rows = []
    for arm, curve in curves.items():
        for depth in DEPTHS:
            for seed in seeds:
                value = curve(depth) * (1 + 0.02 * (seed - 0.5))
                rows.append(
                    {
                        "arm": arm,
                        "model.depth": depth,
                        "seed": seed,
                        "status": "completed",
                        column: value,
                    }
                )
    return rows


def test_a1_a2_pass_and_fail(tmp_path) -> None:
    good = tmp_path / "good" / "quick"
    write(
        good,
        "a1_a2_hessian_depth",
        depth_rows(
            {"resnet_fixup": lambda L: 0.7 * L**0.2, "resnet_he": lambda L: 3.0 * 2.0**L},
            "lambda_max",
        ),
    )
    assert a1_fixup_sqrt(good, "quick").status == "reproduced"
    assert a2_he_exponential(good, "quick").status == "reproduced"
    assert "exponent 0.2 [0.19, 0.21]" in a1_fixup_sqrt(good, "quick").measured
    bad = tmp_path / "bad" / "quick"
    write(
        bad,
        "a1_a2_hessian_depth",
        depth_rows(
            {"resnet_fixup": lambda L: np.exp(0.3 * L), "resnet_he": lambda L: 2.0 * L**0.3},
            "lambda_max",
        ),
    )
    a1, a2 = a1_fixup_sqrt(bad, "quick"), a2_he_exponential(bad, "quick")
    assert a1.status == "contradicted" and "faster than sqrt(L)" in a1.line, a1.line
    assert a2.status == "contradicted" and a2.line.startswith("power law, exponent 0.3"), a2.line
    middle = tmp_path / "mid" / "quick"
    write(
        middle,
        "a1_a2_hessian_depth",
        depth_rows({"resnet_fixup": lambda L: L**0.9, "resnet_he": lambda L: L**2}, "lambda_max"),
    )
    assert a1_fixup_sqrt(middle, "quick").status == "partly"
    assert a2_he_exponential(middle, "quick").status == "partly"


def noisy_rows(arm: str, curve, column: str, sigma: float, seeds=range(3)) -> list[dict]:
    rng = np.random.default_rng(5)
    rows = depth_rows({arm: curve}, column, seeds=tuple(seeds))
    for row in rows:
        row[column] *= float(np.exp(rng.normal(0, sigma)))
    return rows


def test_a1_flips_when_the_interval_straddles_the_threshold(tmp_path) -> None:
    """The same true exponent 0.4 (< 1/2): reproduced when the scatter is small; when the seeds
    scatter so much that the exponent's interval reaches past 1/2 the sqrt bound is not
    reproduced (partly: the interval still lies below 1), and past 1 this scale cannot decide
    (inconclusive: the interval straddles 1/2, it does not lie above it)."""
    he = depth_rows({"resnet_he": lambda L: 3.0 * 2.0**L}, "lambda_max")
    for name, sigma, expected in (
        ("tight", 0.01, "reproduced"),
        ("mid", 1.5, "partly"),
        ("wide", 3.0, "inconclusive"),
    ):
        folder = tmp_path / name
        rows = noisy_rows("resnet_fixup", lambda L: L**0.4, "lambda_max", sigma) + he
        write(folder, "a1_a2_hessian_depth", rows)
        verdict = a1_fixup_sqrt(folder, "quick")
        assert verdict.status == expected, verdict.measured
    from initlab.papers.fixup_hessian.claims import fit_arm

    frame = pd.read_csv(tmp_path / "wide" / "a1_a2_hessian_depth" / "summary.csv")
    exponent = fit_arm(frame, "resnet_fixup", "lambda_max").exponent
    assert exponent.lo < 0.5 < exponent.hi and exponent.hi > 1.0
    assert exponent.value < 1.0  # the point estimate alone would have said "partly" or better


def test_a1_needs_three_depths_and_data(tmp_path) -> None:
    rows = [
        r
        for r in depth_rows(
            {"resnet_fixup": lambda L: 1.0, "resnet_he": lambda L: 2.0**L}, "lambda_max"
        )
        if r["model.depth"] <= 2
    ]
    write(tmp_path, "a1_a2_hessian_depth", rows)
    verdict = a1_fixup_sqrt(tmp_path, "quick")
    assert verdict.status == "inconclusive" and "needs >= 3 depths" in verdict.line
    claim = next(c for c in all_claims() if c.id == "A1")
    nothing = claim.verdict(tmp_path / "nothing", "quick")
    assert nothing.status == "not run" and nothing.line == "not run yet"


def structure_rows(fixup: float, he: float) -> list[dict]:
    return [
        {
            "arm": "resnet_fixup",
            "seed": 0,
            "status": "completed",
            "params": 500,
            "zero_block_fraction": fixup,
        },
        {
            "arm": "resnet_he",
            "seed": 0,
            "status": "completed",
            "params": 500,
            "zero_block_fraction": he,
        },
    ]


def test_a3_pass_and_fail(tmp_path) -> None:
    write(tmp_path / "a", "a3_hessian_structure", structure_rows(0.95, 0.0))
    assert a3_sparse_blocks(tmp_path / "a", "quick").status == "reproduced"
    write(tmp_path / "b", "a3_hessian_structure", structure_rows(0.2, 0.0))
    assert a3_sparse_blocks(tmp_path / "b", "quick").status == "partly"
    write(tmp_path / "c", "a3_hessian_structure", structure_rows(0.0, 0.0))
    assert a3_sparse_blocks(tmp_path / "c", "quick").status == "contradicted"


def sweep_rows(results: dict) -> list[dict]:
    """``results[arm][lr] = test accuracy`` or None for a diverged run."""
    rows = []
    for arm, by_lr in results.items():
        for lr, acc in by_lr.items():
            rows.append(
                {
                    "arm": arm,
                    "optim.lr": lr,
                    "seed": 0,
                    "status": "diverged" if acc is None else "completed",
                    "test_accuracy": acc,
                    "train_loss": None if acc is None else 1 - acc,
                }
            )
    return rows


def test_a4_pass_and_fail(tmp_path) -> None:
    good = {
        "resnet_fixup": {0.01: 0.8, 0.1: 0.95, 1.0: 0.9},
        "resnet_he": {0.01: 0.85, 0.1: None, 1.0: None},
    }
    write(tmp_path / "a", "a4_lr_sweep", sweep_rows(good))
    verdict = a4_large_lr(tmp_path / "a", "quick")
    assert verdict.status == "reproduced", verdict.measured
    bad = {
        "resnet_fixup": {0.01: 0.8, 0.1: None, 1.0: None},
        "resnet_he": {0.01: 0.85, 0.1: 0.9, 1.0: None},
    }
    write(tmp_path / "b", "a4_lr_sweep", sweep_rows(bad))
    verdict = a4_large_lr(tmp_path / "b", "quick")
    assert verdict.status == "contradicted", verdict.line  # He's largest usable lr is larger
    assert verdict.line.startswith("largest usable lr Fixup 0.01 vs He 0.1")
    tie = {
        "resnet_fixup": {0.01: 0.8, 0.1: None, 1.0: None},
        "resnet_he": {0.01: 0.85, 0.1: None, 1.0: None},
    }
    write(tmp_path / "c", "a4_lr_sweep", sweep_rows(tie))
    assert a4_large_lr(tmp_path / "c", "quick").status == "inconclusive"  # the grid cannot tell

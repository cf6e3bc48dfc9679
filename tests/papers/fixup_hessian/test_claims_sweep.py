"""Verdict rule A4 (the learning-rate sweep) on small synthetic CSVs built to reach each of its
outcomes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.papers.fixup_hessian.claims_sweep import a4_large_lr


def write(results: Path, experiment: str, rows: list[dict]) -> None:
    folder = results / experiment
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)


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

"""Verdict rule A4 (the learning-rate sweep) on small synthetic CSVs built to reach each of its
outcomes: reproduced, partly, contradicted, inconclusive (seeds disagree; too few seeds)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.papers.fixup_hessian.claims_sweep import (
    a4_large_lr,
    largest_usable,
    sweep_runs,
)

LRS = (0.001, 0.01, 0.1, 1.0)
SEEDS = (0, 1, 2)


def write(results: Path, rows: list[dict]) -> Path:
    folder = results / "a4_lr_sweep"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)
    return results


def rows_for(arms: dict, seeds=SEEDS) -> list[dict]:
    """``arms[arm][lr] = (test accuracy, train loss)`` or None (diverged); each seed jitters
    both by a small, seed-dependent amount so that intervals over seeds have a width."""
    rows = []
    for arm, by_lr in arms.items():
        for lr, value in by_lr.items():
            for seed in seeds:
                jitter = 0.004 * (seed - 1)
                acc, loss = (None, None) if value is None else value
                rows.append(
                    {
                        "arm": arm,
                        "optim.lr": lr,
                        "seed": seed,
                        "status": "diverged" if value is None else "completed",
                        "test_accuracy": None if acc is None else acc + jitter,
                        "train_loss": None if loss is None else loss + jitter,
                    }
                )
    return rows


GOOD_FIXUP = {0.001: (0.2, 2.2), 0.01: (0.9, 0.3), 0.1: (0.96, 0.05), 1.0: None}
GOOD_HE = {0.001: (0.85, 0.5), 0.01: (0.9, 0.3), 0.1: None, 1.0: None}


def test_reproduced_when_larger_faster_and_better(tmp_path) -> None:
    verdict = a4_large_lr(
        write(tmp_path, rows_for({"resnet_fixup": GOOD_FIXUP, "resnet_he": GOOD_HE})), "quick"
    )
    assert verdict.status == "reproduced", verdict.measured
    assert "usable lr 0.1/0.1/0.1 vs 0.01/0.01/0.01" in verdict.summary
    assert "3 seeds" in verdict.summary


def test_partly_when_only_the_learning_rate_is_larger(tmp_path) -> None:
    fixup = {0.001: (0.2, 2.2), 0.01: (0.6, 1.0), 0.1: (0.7, 0.8), 1.0: None}
    verdict = a4_large_lr(
        write(tmp_path, rows_for({"resnet_fixup": fixup, "resnet_he": GOOD_HE})), "quick"
    )
    assert verdict.status == "partly", verdict.measured
    assert "(1) larger lr holds" in verdict.measured
    assert "(2) faster against" in verdict.measured and "(3) better against" in verdict.measured


def test_contradicted_when_he_is_larger_faster_and_better(tmp_path) -> None:
    fixup = {0.001: (0.5, 1.5), 0.01: (0.7, 0.9), 0.1: None, 1.0: None}
    he = {0.001: (0.85, 0.5), 0.01: (0.9, 0.3), 0.1: (0.93, 0.1), 1.0: None}
    verdict = a4_large_lr(
        write(tmp_path, rows_for({"resnet_fixup": fixup, "resnet_he": he})), "quick"
    )
    assert verdict.status == "contradicted", verdict.measured
    assert "usable lr 0.01/0.01/0.01 vs 0.1/0.1/0.1" in verdict.summary


def test_inconclusive_when_nothing_is_decided(tmp_path) -> None:
    # the same usable edge in every seed, accuracy and loss equal within the seeds' spread
    same = {0.001: (0.85, 0.5), 0.01: (0.9, 0.3), 0.1: None, 1.0: None}
    verdict = a4_large_lr(
        write(tmp_path, rows_for({"resnet_fixup": same, "resnet_he": same})), "quick"
    )
    assert verdict.status == "inconclusive", verdict.measured
    assert "(1) larger lr open" in verdict.measured


def test_too_few_seeds_are_inconclusive(tmp_path) -> None:
    rows = rows_for({"resnet_fixup": GOOD_FIXUP, "resnet_he": GOOD_HE}, seeds=(0,))
    verdict = a4_large_lr(write(tmp_path, rows), "quick")
    assert verdict.status == "inconclusive"
    assert ">= 3 decide" in verdict.measured


def test_largest_usable_is_per_seed_and_ignores_chance_level_runs(tmp_path) -> None:
    rows = rows_for({"resnet_fixup": GOOD_FIXUP, "resnet_he": GOOD_HE})
    # seed 2 of Fixup at lr 0.1 survives at chance level: not usable, its edge is 0.01
    for row in rows:
        if row["arm"] == "resnet_fixup" and row["optim.lr"] == 0.1 and row["seed"] == 2:
            row["test_accuracy"] = 0.1
    runs = sweep_runs(pd.DataFrame(rows))
    assert largest_usable(runs, "resnet_fixup").tolist() == [0.1, 0.1, 0.01]
    verdict = a4_large_lr(write(tmp_path, rows), "quick")
    # seed 2's edge equals He's: not larger in every seed, so the check stays open
    assert "(1) larger lr open" in verdict.measured
    assert "larger in 2/3 seeds" in verdict.measured

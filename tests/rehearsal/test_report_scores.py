"""The rehearsal report names completed runs whose scores are not finite."""

from __future__ import annotations

import csv
from pathlib import Path

from initlab_harness.rehearsal.report import non_finite_scores, verdict_text


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_inf_or_always_empty_scores_are_named_and_partial_columns_are_not(tmp_path) -> None:
    rows = [
        {
            "run": "a",
            "status": "completed",
            "train_loss": "",
            "test_kl": "inf",
            "test_acc": "0.5",
            "val_score": "",
            "train_examples": "",
        },
        {
            "run": "b",
            "status": "completed",
            "train_loss": "",
            "test_kl": "1.0",
            "test_acc": "0.6",
            "val_score": "0.7",
            "train_examples": "",
        },
    ]
    # train_loss: NaN in every run (pandas writes it empty); test_kl: inf in one run; val_score
    # is empty in one run only (a column another arm wrote): not named
    assert non_finite_scores(rows) == ["train_loss", "test_kl"]
    _write(tmp_path / "x" / "summary.csv", rows)
    text = verdict_text(tmp_path, "x")
    assert (
        text == "rehearsed (2 runs completed; scores not finite after the cut steps: "
        "train_loss, test_kl)"
    )
    fine = [{**r, "train_loss": "0.1", "test_kl": "0.2"} for r in rows]
    _write(tmp_path / "y" / "summary.csv", fine)
    assert verdict_text(tmp_path, "y") == "rehearsed (2 runs completed)"

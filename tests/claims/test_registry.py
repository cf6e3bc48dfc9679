"""The shared pieces of every claim rule: grading, NotRun, reading a collected table."""

from __future__ import annotations

import pandas as pd
import pytest

from initlab.claims import NotRun, grade, read_table
from initlab.claims.registry import Claim


def test_grade_maps_checks_to_the_three_verdicts():
    assert grade([True, True]) == "reproduced"
    assert grade([True, False, False]) == "partly"
    assert grade([False, False]) == "not reproduced"
    assert grade([]) == "not reproduced"


def test_read_table_keeps_completed_rows_and_says_not_run(tmp_path):
    with pytest.raises(NotRun, match="no exp/summary.csv"):
        read_table(tmp_path, "exp")
    (tmp_path / "exp").mkdir()
    frame = pd.DataFrame({"status": ["completed", "failed"], "x": [1, 2]})
    frame.to_csv(tmp_path / "exp" / "summary.csv", index=False)
    assert read_table(tmp_path, "exp")["x"].tolist() == [1]
    assert read_table(tmp_path, "exp", completed=False)["x"].tolist() == [1, 2]
    frame.assign(status="failed").to_csv(tmp_path / "exp" / "summary.csv", index=False)
    with pytest.raises(NotRun, match="no completed runs"):
        read_table(tmp_path, "exp")


def test_a_rule_that_raises_not_run_is_reported_not_run_and_other_errors_propagate(tmp_path):
    def missing(results_dir, profile):
        return read_table(results_dir, "absent")

    assert Claim("X1", "X", "s", rule=missing).verdict(tmp_path, "quick").status == "not run yet"

    def broken(results_dir, profile):
        raise FileNotFoundError("a bug, not a missing result")

    with pytest.raises(FileNotFoundError):
        Claim("X2", "X", "s", rule=broken).verdict(tmp_path, "quick")

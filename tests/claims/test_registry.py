"""The shared pieces of every claim rule: the vocabulary, grading, NotRun, reading a table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from initlab.claims import (
    SUMMARY_MAX,
    Check,
    NotRun,
    Verdict,
    all_claims,
    grade,
    not_run,
    read_table,
)
from initlab.claims.decide import (
    fit_line,
    replicates_needed,
    replicates_needed_for,
    replicates_to_place,
)
from initlab.claims.registry import Claim

HOLDS, AGAINST, OPEN = Check("holds"), Check("against"), Check("open")


def test_the_vocabulary_is_enforced():
    """Only reproduced / partly / contradicted / inconclusive / not run (with its reason)."""
    for old in ("not reproduced", "undecided", "not run yet", "not run at this scale", "ok"):
        with pytest.raises(ValueError, match="verdict status must be one of"):
            Verdict(old, "numbers", summary="a line")
    for status in ("reproduced", "partly", "contradicted", "inconclusive"):
        assert Verdict(status, summary="law found").status == status
        with pytest.raises(ValueError, match="one-line summary"):
            Verdict(status, "numbers")  # a decided verdict says what decided it
    with pytest.raises(ValueError, match="reason"):
        Verdict("not run", summary="no data")  # not run needs its reason
    with pytest.raises(ValueError, match="reason"):
        Verdict("partly", summary="x", reason="not run yet")
    verdict = not_run("not run at this scale", "needs the full data")
    assert verdict.status == "not run" and verdict.line.startswith("not run at this scale: ")
    assert not verdict.not_run_yet and not_run("not run yet").not_run_yet
    with pytest.raises(ValueError, match="one line of <= 140"):
        Verdict("partly", summary="x" * (SUMMARY_MAX + 1))
    with pytest.raises(ValueError, match="one line"):
        Verdict("partly", summary="two\nlines")


def test_a_rule_returning_the_old_not_reproduced_fails_loudly(tmp_path):
    def old_rule(results_dir, profile):
        return Verdict("not reproduced", "numbers", summary="line")

    with pytest.raises(ValueError, match="'not reproduced'"):
        Claim("X3", "X", "s", rule=old_rule).verdict(tmp_path, "quick")


def test_grade_maps_check_outcomes_to_the_four_decided_verdicts():
    assert grade([HOLDS, HOLDS]) == "reproduced"
    assert grade([HOLDS, AGAINST, OPEN]) == "partly"
    assert grade([AGAINST, OPEN]) == "contradicted"
    assert grade([OPEN, OPEN]) == "inconclusive"
    assert grade([]) == "inconclusive"
    assert Check.of(True, True).outcome == "holds"
    assert Check.of(False, True).outcome == "against"
    assert Check.of(False, False).outcome == "open"
    with pytest.raises(TypeError, match="not booleans"):
        grade([True, False])  # a failed check must say whether the data decided against it
    with pytest.raises(ValueError, match="holds, against or open"):
        Check("fails")


def test_what_would_decide_is_projected_from_mean_and_spread():
    # mean 1, s.d. 2: t(n-1) * 2 / sqrt(n) < 1 first at n = 18 (t(17) = 2.11: 0.995)
    assert replicates_needed(1.0, 2.0) == 18
    assert replicates_needed(0.0, 1.0) is None and replicates_needed(1.0, 0.0) == 2
    from initlab.analysis.laws import replicate_interval

    estimate = replicate_interval([0.0, 1.0, 2.0])  # mean 1, s.d. 1: straddles 0 with 3
    assert estimate.lo < 0 and replicates_needed_for(estimate, 3) == replicates_needed(1.0, 1.0)
    # mean -0.9, band [-1.25, -0.75]: the nearest edge 0.15 away decides
    band = replicate_interval([-0.4, -0.9, -1.4])
    assert replicates_to_place(band, 3, -1.25, -0.75) == replicates_needed(0.15, 0.5)
    assert fit_line("a; " + "b" * 150 + "; c") == "a; c"
    assert len(fit_line("x" * 200)) == SUMMARY_MAX


def test_every_claim_summary_line_fits_on_committed_results():
    """The report's summary table holds one line per claim: <= 140 characters, for every
    claim at every committed profile (and with nothing measured)."""
    root = Path(__file__).resolve().parents[2] / "results"
    for profile in ("quick", "full", "empty"):
        for claim in all_claims():
            verdict = claim.verdict(root / profile, profile)
            assert verdict.line and len(verdict.line) <= SUMMARY_MAX, (claim.id, verdict.line)
            assert "\n" not in verdict.line


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

    verdict = Claim("X1", "X", "s", rule=missing).verdict(tmp_path, "quick")
    assert verdict.status == "not run" and verdict.reason == "not run yet" == verdict.line

    def broken(results_dir, profile):
        raise FileNotFoundError("a bug, not a missing result")

    with pytest.raises(FileNotFoundError):
        Claim("X2", "X", "s", rule=broken).verdict(tmp_path, "quick")

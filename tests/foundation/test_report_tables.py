"""Markdown tables: the writer, the report inlining a verdict's table under its claim, and the
summary table's one line per claim."""

from __future__ import annotations

import pandas as pd

from initlab.claims import all_claims
from initlab.claims.registry import Verdict
from initlab.report.build import render_report
from initlab.report.tables import markdown_table, write_table


def test_markdown_table_rows_escapes_and_empty_nan():
    frame = pd.DataFrame({"arm": ["he", "a|b"], "l1": [0.24418, float("nan")], "n": [3, 2]})
    assert markdown_table(frame).splitlines() == [
        "| arm | l1 | n |",
        "| --- | --- | --- |",
        "| he | 0.2442 | 3 |",
        "| a\\|b |  | 2 |",
    ]


def test_report_inlines_the_verdicts_table(tmp_path, monkeypatch):
    profile_dir = tmp_path / "quick"
    csv_path, md_path = write_table(pd.DataFrame({"x": [1], "y": ["z"]}), profile_dir / "t" / "tab")
    assert pd.read_csv(csv_path).to_dict("list") == {"x": [1], "y": ["z"]}
    claim = all_claims()[0]
    verdict = Verdict(
        "partly", "numbers", "quick", tables=("t/tab.md", "t/absent.md"), summary="one line"
    )
    monkeypatch.setattr(claim, "rule", lambda results_dir, profile: verdict)
    lines = render_report(tmp_path, ("quick",), prefix_profile=False).splitlines()
    at = lines.index("  | x | y |")
    assert lines[at - 2].startswith(f"- **{claim.id}** — partly")
    assert lines[at + 2] == "  | 1 | z |"
    md_path.unlink()  # a table the plot script did not write is left out, not an error
    assert "| x | y |" not in render_report(tmp_path, ("quick",), prefix_profile=False)


def test_summary_table_holds_one_line_per_claim_and_the_section_the_full_text(
    tmp_path, monkeypatch
):
    """The summary table's measured cell is the verdict's one-line summary (<= 140 characters);
    the full measured text and the scale are in the paper's section."""
    claim = all_claims()[0]
    verdict = Verdict(
        "contradicted", "the full numbers " * 20, "depth 100, width 512", summary="law found"
    )
    monkeypatch.setattr(claim, "rule", lambda results_dir, profile: verdict)
    (tmp_path / "quick").mkdir()
    lines = render_report(tmp_path, ("quick",), prefix_profile=False).splitlines()
    row = next(line for line in lines if line.startswith(f"| {claim.id} |"))
    assert row.split(" | ")[2:5] == ["contradicted", "law found", "quick"]
    assert "the full numbers" not in row
    section = next(line for line in lines if line.startswith(f"- **{claim.id}** —"))
    assert section.startswith(f"- **{claim.id}** — contradicted (experiment `")
    assert "scale: quick / depth 100, width 512). the full numbers" in section


def test_committed_reports_summary_cells_are_one_line_of_at_most_140_characters():
    from pathlib import Path

    from initlab.claims import SUMMARY_MAX

    results = Path(__file__).resolve().parents[2] / "results"
    for report in (results / "REPORT.md", results / "quick" / "REPORT.md"):
        rows = [
            line
            for line in report.read_text().splitlines()
            if line.startswith("| ") and "|" in line
        ]
        claims = [r for r in rows if r.split(" | ")[0][2:] in {c.id for c in all_claims()}]
        assert len(claims) == len(all_claims())
        for row in claims:
            cell = row.split(" | ")[3].replace("\\|", "|")
            assert len(cell) <= SUMMARY_MAX, (row[:4], len(cell), cell)

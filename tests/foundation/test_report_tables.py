"""Markdown tables: the writer, and the report inlining a verdict's table under its claim."""

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
    verdict = Verdict("partly", "numbers", "quick", tables=("t/tab.md", "t/absent.md"))
    monkeypatch.setattr(claim, "rule", lambda results_dir, profile: verdict)
    lines = render_report(tmp_path, ("quick",), prefix_profile=False).splitlines()
    at = lines.index("  | x | y |")
    assert lines[at - 2].startswith(f"- **{claim.id}** — partly")
    assert lines[at + 2] == "  | 1 | z |"
    md_path.unlink()  # a table the plot script did not write is left out, not an error
    assert "| x | y |" not in render_report(tmp_path, ("quick",), prefix_profile=False)

"""Tables for the report: one CSV (for reading back) and one Markdown file (inlined in REPORT.md).

pandas' ``to_markdown`` needs the optional ``tabulate`` package; this writer needs nothing and
gives the same bytes for the same frame.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.tracking import atomic_write_text


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub Markdown table (floats to 4 significant digits, NaN empty)."""
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, path: Path) -> tuple[Path, Path]:
    """Write ``path.csv`` and ``path.md`` (``path`` without suffix); returns both paths."""
    path = Path(path)
    csv_path, md_path = path.with_suffix(".csv"), path.with_suffix(".md")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(csv_path, frame.to_csv(index=False))
    atomic_write_text(md_path, markdown_table(frame))
    return csv_path, md_path

"""Regenerate the report from the results CSVs: ``python scripts/make_report.py [results_dir]``.

Plot scripts (``scripts/plot_*.py``) run first, from ``make report``; this writes REPORT.md.
"""

import sys
from pathlib import Path

from initlab.report.build import write_report

if __name__ == "__main__":
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")
    print(f"wrote {write_report(results)}")

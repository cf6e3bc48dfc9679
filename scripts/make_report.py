"""Regenerate every table, figure and report from the results CSVs (never trains).

    python scripts/make_report.py [results_dir]

For each profile folder (``results/quick``, ``results/full``) every paper's ``report`` module
(:mod:`initlab.papers`) writes its tables and figures; then ``results/<profile>/REPORT.md`` and
the combined ``results/REPORT.md`` are written from the claims' verdicts.
"""

import os
import sys
from pathlib import Path

# figures are written without a date (initlab.report.figures.CLEAN_METADATA); SOURCE_DATE_EPOCH
# pins one for any writer that would still put one in
os.environ["SOURCE_DATE_EPOCH"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")

from initlab.report.build import write_outputs  # noqa: E402

if __name__ == "__main__":
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "results"
    for path in write_outputs(results):
        print(f"wrote {path}")

"""Regenerate every figure and report from the results CSVs (never trains).

    python scripts/make_report.py [results_dir]

Runs each ``scripts/plot_*.py`` on every profile folder (``results/quick``, ``results/full``),
then writes ``results/<profile>/REPORT.md`` and the combined ``results/REPORT.md``.
"""

import os
import subprocess
import sys
from pathlib import Path

from initlab.report.build import PROFILES, write_reports

SCRIPTS = Path(__file__).resolve().parent

if __name__ == "__main__":
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else SCRIPTS.parent / "results"
    for profile in PROFILES:
        if not (results / profile).is_dir():
            continue
        for plot in sorted(SCRIPTS.glob("plot_*.py")):
            print(f"{plot.name} {results / profile}", flush=True)
            # SOURCE_DATE_EPOCH pins the date matplotlib writes into PDFs: same CSVs, same bytes
            env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "MPLBACKEND": "Agg"}
            subprocess.run([sys.executable, str(plot), str(results / profile)], check=True, env=env)
    for path in write_reports(results):
        print(f"wrote {path}")

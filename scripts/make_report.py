"""Regenerate every table, figure and report from the results CSVs (never trains).

    python scripts/make_report.py [results_dir] [--wandb offline|online]

For each profile folder (``results/quick``, ``results/full``) every paper's ``report`` module
(:mod:`initlab.papers`) writes its tables and figures; then ``results/<profile>/REPORT.md`` and
the combined ``results/REPORT.md`` are written from the claims' verdicts. ``--wandb``
(``make report WANDB=offline``) then logs each profile's report, tables and figures to W&B
(:func:`initlab.tracking.log_report`).
"""

import argparse
import os
from pathlib import Path

# figures are written without a date (initlab.report.figures.CLEAN_METADATA); SOURCE_DATE_EPOCH
# pins one for any writer that would still put one in
os.environ["SOURCE_DATE_EPOCH"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")

import initlab_harness.rehearsal  # noqa: E402, F401 - registers results/rehearsal's own report
from initlab.papers import load_rules  # noqa: E402 - the papers' rules and figure writers
from initlab.report.build import write_outputs  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default=Path(__file__).parents[1] / "results")
    parser.add_argument("--wandb", choices=("offline", "online"), default=None)
    args = parser.parse_args()
    results = Path(args.results)
    load_rules()
    for path in write_outputs(results):
        print(f"wrote {path}")
    if args.wandb:
        from initlab.tracking import log_report

        for profile in log_report(results, args.wandb):
            print(f"logged results/{profile} to W&B ({args.wandb})")

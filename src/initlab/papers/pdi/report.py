"""Figures of the PDI paper's claims from collected CSVs (never trains).

    python scripts/plot_pdi.py results/quick

Drawn by :mod:`initlab.report.plots.pdi` (the notebook shows the same):
D1: ``d1_pdi_weight_variance/weight_variance.png``: Var(W) / (2 / fan_in) of every layer through
the PDI stages, one line per base initializer (median over seeds); 1 is He's variance.
D2: ``d2_pdi_vae/vae_curves.png``: training loss of every arm (mean and range over seeds)
against optimizer steps in total (PDI's curve starts after its stages), and the final test L1 per
arm next to the paper's Table 1; the same numbers as ``l1_table.csv`` / ``.md`` (in the report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from initlab.claims.pdi import D1_EXP, D2_EXP  # noqa: E402
from initlab.report.figures import save_figure  # noqa: E402
from initlab.report.plots import pdi  # noqa: E402
from initlab.report.plots.common import read_completed  # noqa: E402
from initlab.report.tables import write_table  # noqa: E402


def plot_d1(results: Path) -> None:
    variance = read_completed(results / D1_EXP / "weight_variance.csv")
    if variance is not None:
        save_figure(pdi.weight_variance_figure(variance), results / D1_EXP / "weight_variance.png")


def plot_d2(results: Path) -> None:
    base = results / D2_EXP
    if not (base / "metrics.csv").exists():
        return
    metrics = pd.read_csv(base / "metrics.csv")
    summary = pd.read_csv(base / "summary.csv")
    save_figure(pdi.vae_figure(metrics, summary), base / "vae_curves.png")
    write_table(pdi.l1_table(summary), base / "l1_table")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a profile's results directory, e.g. results/quick")
    results = Path(parser.parse_args().results)
    plot_d1(results)
    plot_d2(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figures of the SNN theory claims from the collected CSVs (never trains).

    python scripts/plot_selu.py results/quick

Writes, next to the CSVs they come from (drawn by :mod:`initlab.report.plots.selu`):
- ``e1_e2_selu_theory/selu_vector_field.png`` (+ .pdf): the map g's steps (mu, nu) -> g(mu, nu)
  at omega = 0, tau = 1, with the fixed point (0, 1) marked;
- ``e3_activation_stats/activation_stats.png`` (+ .pdf): mean and variance of pre- and
  post-activations against the layer, per network (line: mean over seeds, band: min-max).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from initlab.report.figures import save_figure  # noqa: E402
from initlab.report.plots import selu  # noqa: E402

#: (experiment, table read, figure written next to it, drawing function)
PLOTS = (
    ("e1_e2_selu_theory", "selu_vector_field", "selu_vector_field", selu.vector_field_figure),
    ("e3_activation_stats", "activations", "activation_stats", selu.activation_stats_figure),
)


def main(results: Path) -> int:
    for exp, table, name, figure in PLOTS:
        path = results / exp / f"{table}.csv"
        if path.exists():
            fig = figure(pd.read_csv(path))
            save_figure(fig, results / exp / name, dpi=selu.DPI, tight_bbox=True)
        else:
            print(f"skipped {exp}: {path} not found")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/quick")))

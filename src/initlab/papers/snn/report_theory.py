"""Figures of the SNN theory claims E1-E3 from the collected CSVs (``make report``; never trains).

Writes, next to the CSVs they come from (drawn by :mod:`initlab.papers.snn.figures_theory`):
- ``e1_e2_selu_theory/selu_vector_field.png`` (+ .pdf): the map g's steps (mu, nu) -> g(mu, nu)
  at omega = 0, tau = 1, with the fixed point (0, 1) marked;
- ``e3_activation_stats/activation_stats.png`` (+ .pdf): mean and variance of pre- and
  post-activations against the layer, per network, from the fixed point (line: mean over seeds,
  band: min-max);
- ``e3_activation_stats/attraction.png`` (+ .pdf): the SNNs' mean and variance from each start
  off the fixed point, with the map g iterated from the same starts dashed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.papers.snn import figures_theory as selu
from initlab.report.figures import save_figure

#: (experiment, table read, figure written next to it, drawing function)
PLOTS = (
    ("e1_e2_selu_theory", "selu_vector_field", "selu_vector_field", selu.vector_field_figure),
    ("e3_activation_stats", "activations", "activation_stats", selu.activation_stats_figure),
    ("e3_activation_stats", "activations", "attraction", selu.attraction_figure),
)


def build(results: Path, profile: str) -> None:
    """E1/E2's vector field and E3's activation statistics under ``results``."""
    results = Path(results)
    for exp, table, name, figure in PLOTS:
        path = results / exp / f"{table}.csv"
        if path.exists():
            fig = figure(pd.read_csv(path))
            save_figure(fig, results / exp / name, dpi=selu.DPI, tight_bbox=True)
        else:
            print(f"skipped {exp}: {path} not found")

"""B4 and B5's figures from the collected CSVs (``make report``), drawn by
:mod:`initlab.papers.angles.figures_distance`:

- ``b4_distance_ratio/ratio_vs_layer.png``: the between/within class distance ratio over its
  input value vs layer (MLP) and block (ResNets), bands over draws, and the profile areas;
- ``b5_trained_ratio/ratio_before_after.png``: the last-hidden-layer ratio at init vs after
  training, and the trained ratio and test accuracy against the init angle.
Reads CSVs only; never trains.
"""

from __future__ import annotations

from pathlib import Path

from initlab.claims import NotRun
from initlab.papers.angles import figures_distance as distance
from initlab.papers.angles.claims_distance import (
    RATIO_EXP,
    TRAINED_EXP,
    network_table,
    read_table,
)
from initlab.report.figures import save_figure


def plot_ratio(results: Path) -> None:
    table = read_table(results, RATIO_EXP, "angles")
    figure = distance.ratio_figure(table)  # laid out by itself: its legend below the panels
    save_figure(figure, results / RATIO_EXP / "ratio_vs_layer.png", tight_bbox=True)


def plot_trained(results: Path) -> None:
    draws = read_table(results, TRAINED_EXP, "draws")
    figure = distance.trained_figure(draws, network_table(results))
    save_figure(figure, results / TRAINED_EXP / "ratio_before_after.png", tight_bbox=True)


def build(results: Path, profile: str) -> None:
    """B4 and B5's figures under ``results`` (one profile's folder)."""
    for plot in (plot_ratio, plot_trained):
        try:
            plot(Path(results))
        except NotRun as err:
            print(f"skipped {plot.__name__}: {err}")

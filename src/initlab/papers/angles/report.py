"""Paper B's figures (and C1's) from the collected CSVs (``make report``). Drawn by
:mod:`initlab.papers.angles.figures` (the notebooks show the same):

- ``b1_b3_angles/angle_vs_layer.png``: angle vs layer (MLP) / residual block (ResNets), one
  column per network, bands over draws, mean-field theory dashed (the arc-cosine map, the
  residual recursion, the Monte-Carlo batch recursion for BatchNorm), reference slopes 1/l and
  exponential; below, l x angle_l against its limit (3 pi, 9 pi / 2) to show the 1/l tail;
  ``cosine_vs_layer.png``: 1 - cosine the same way;
  ``angle_by_arch.png``: per pair set (most / least different, MNIST pairs) the MLP against its
  layers and the ResNets against their blocks, one shared range;
B4 and B5's figures: :mod:`initlab.papers.angles.report_distance`. Reads CSVs only; never
trains.
"""

from __future__ import annotations

from pathlib import Path

from initlab.claims import NotRun
from initlab.papers.angles import figures as angles
from initlab.papers.angles.claims import ANGLES_EXP, read_table
from initlab.report.figures import save_figure


def plot_angles(results: Path) -> None:
    table = read_table(results, ANGLES_EXP, "angles")
    for quantity, (*_, fname) in angles.QUANTITIES.items():
        figure = angles.layer_figure(table, quantity)  # laid out with room for its legend
        save_figure(figure, results / ANGLES_EXP / fname, tight_bbox=True)


def plot_archs(results: Path) -> None:
    table = read_table(results, ANGLES_EXP, "angles")
    figure = angles.arch_figure(table)
    save_figure(figure, results / ANGLES_EXP / "angle_by_arch.png", tight_bbox=True)


def build(results: Path, profile: str) -> None:
    """Every figure of B1-B3 (and C1) under ``results`` (one profile's folder)."""
    for plot in (plot_angles, plot_archs):
        try:
            plot(Path(results))
        except NotRun as err:
            print(f"skipped {plot.__name__}: {err}")

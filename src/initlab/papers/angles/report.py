"""Paper B's figures (and C1's) from the collected CSVs (``make report``). Drawn by
:mod:`initlab.papers.angles.figures` (the notebooks show the same):

- ``b1_b3_angles/angle_vs_layer.png`` and ``cosine_vs_layer.png``: angle / (1 - cosine) vs layer
  per network and pair set, log-log (top) and log-linear (bottom), mean-field theory dashed
  where a closed form exists (none for true BatchNorm: measurement only, said in the panel);
  ``angle_by_arch.png``: the networks in one panel per pair set (most / least different, data);
B4 and B5's figures: :mod:`initlab.papers.angles.report_distance`. Reads CSVs only; never trains.
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
        save_figure(angles.layer_figure(table, quantity), results / ANGLES_EXP / fname)


def plot_archs(results: Path) -> None:
    table = read_table(results, ANGLES_EXP, "angles")
    save_figure(angles.arch_figure(table), results / ANGLES_EXP / "angle_by_arch.png")


def build(results: Path, profile: str) -> None:
    """Every figure of B1-B3 (and C1) under ``results`` (one profile's folder)."""
    for plot in (plot_angles, plot_archs):
        try:
            plot(Path(results))
        except NotRun as err:
            print(f"skipped {plot.__name__}: {err}")

"""Figures for B1-B5 / C1 from the collected CSVs: ``python scripts/plot_angles.py results/quick``.
Drawn by :mod:`initlab.report.plots.angles` (the notebooks show the same):

- ``b1_b3_angles/angle_vs_layer.png`` and ``cosine_vs_layer.png``: angle / (1 - cosine) vs layer
  per network and pair set, log-log (top) and log-linear (bottom), mean-field theory dashed
  where a closed form exists (none for true BatchNorm: measurement only, said in the panel);
  ``angle_by_arch.png``: the networks in one panel per pair set (most / least different, data);
- ``b4_distance_ratio/ratio_vs_layer.png``: between/within class distance ratio vs layer;
- ``b5_trained_ratio/ratio_before_after.png``: last-hidden-layer ratio at init vs after training,
  and test accuracy.
Reads CSVs only; never trains.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from initlab.claims import NotRun  # noqa: E402
from initlab.claims.angles import ANGLES_EXP, RATIO_EXP, TRAINED_EXP, read_table  # noqa: E402
from initlab.report.figures import save_figure  # noqa: E402
from initlab.report.plots import angles  # noqa: E402


def plot_angles(results: Path) -> None:
    table = read_table(results, ANGLES_EXP, "angles")
    for quantity, (*_, fname) in angles.QUANTITIES.items():
        save_figure(angles.layer_figure(table, quantity), results / ANGLES_EXP / fname)


def plot_archs(results: Path) -> None:
    table = read_table(results, ANGLES_EXP, "angles")
    save_figure(angles.arch_figure(table), results / ANGLES_EXP / "angle_by_arch.png")


def plot_ratio(results: Path) -> None:
    table = read_table(results, RATIO_EXP, "angles")
    save_figure(angles.ratio_figure(table), results / RATIO_EXP / "ratio_vs_layer.png")


def plot_trained(results: Path) -> None:
    draws = read_table(results, TRAINED_EXP, "draws")
    save_figure(angles.trained_figure(draws), results / TRAINED_EXP / "ratio_before_after.png")


def main() -> int:
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/quick")
    for plot in (plot_angles, plot_archs, plot_ratio, plot_trained):
        try:
            plot(results)
        except NotRun as err:
            print(f"skipped {plot.__name__}: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

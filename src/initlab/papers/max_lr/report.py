"""Paper C's figures from the collected CSVs (``make report``; never trains):

* ``c2_max_lr_depth/max_lr_vs_depth``: the largest stable learning rate of GD vs depth, with
  2 / lambda_max and max_lr * lambda_max / 2 from the same runs;
* ``c3_fisher_depth/fisher_vs_depth``: the Fisher's top eigenvalue vs depth (Gaussian-output
  J^T J and cross-entropy Fisher; exact zeros marked).

Drawn by :mod:`initlab.papers.max_lr.figures`. C1's figure is B's ``angle_by_arch``
(:mod:`initlab.papers.angles.report`), as C1 is measured on B's experiment.
"""

from __future__ import annotations

from pathlib import Path

from initlab.papers.fixup_hessian.report import save
from initlab.papers.max_lr import figures
from initlab.report.common import read_completed


def plot_max_lr(results: Path) -> None:
    frame = read_completed(results / "c2_max_lr_depth" / "summary.csv")
    if frame is not None:
        save(figures.max_lr_figure(frame), results / "c2_max_lr_depth" / "max_lr_vs_depth")


def plot_fisher(results: Path) -> None:
    frame = read_completed(results / "c3_fisher_depth" / "summary.csv")
    if frame is not None:
        save(figures.fisher_figure(frame), results / "c3_fisher_depth" / "fisher_vs_depth")


def build(results: Path, profile: str) -> None:
    """Every figure of paper C under ``results`` (one profile's folder)."""
    for plot in (plot_max_lr, plot_fisher):
        plot(Path(results))

"""Paper C's figures from the collected CSVs (``make report``; never trains):

* ``c2_max_lr_depth/max_lr_vs_depth``: the largest learning rate vs depth, with 2 / lambda_max
  from A1 when it was run;
* ``c3_fisher_depth/fisher_vs_depth``: the Fisher's top eigenvalue vs depth.

C1's figure is B's ``angle_by_arch`` (:mod:`initlab.papers.angles.report`). The depth figures
of A and C share one drawing module, :mod:`initlab.papers.fixup_hessian.figures`.
"""

from __future__ import annotations

from pathlib import Path

from initlab.papers.fixup_hessian import figures as hessian
from initlab.papers.fixup_hessian.report import save
from initlab.report.common import read_completed


def plot_max_lr(results: Path) -> None:
    frame = read_completed(results / "c2_max_lr_depth" / "summary.csv")
    if frame is not None:
        a1 = read_completed(results / "a1_a2_hessian_depth" / "summary.csv")
        save(hessian.max_lr_figure(frame, a1), results / "c2_max_lr_depth" / "max_lr_vs_depth")


def plot_fisher(results: Path) -> None:
    frame = read_completed(results / "c3_fisher_depth" / "summary.csv")
    if frame is not None:
        save(hessian.fisher_figure(frame), results / "c3_fisher_depth" / "fisher_vs_depth")


def build(results: Path, profile: str) -> None:
    """Every figure of paper C under ``results`` (one profile's folder)."""
    for plot in (plot_max_lr, plot_fisher):
        plot(Path(results))

"""A4's figures from the collected CSVs (``make report``; never trains):
``a4_lr_sweep/accuracy_vs_lr`` and ``a4_lr_sweep/loss_curves`` (PNG + PDF next to the CSVs);
nothing when the experiment was not run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.papers.fixup_hessian import figures_sweep as sweep
from initlab.papers.fixup_hessian.report import save


def plot_sweep(results: Path) -> None:
    folder = results / "a4_lr_sweep"
    if not (folder / "summary.csv").exists():
        return
    save(
        sweep.accuracy_vs_lr_figure(pd.read_csv(folder / "summary.csv")), folder / "accuracy_vs_lr"
    )
    path = folder / "metrics.csv"
    metrics = pd.read_csv(path) if path.exists() else None  # diverged runs too: marked x
    if metrics is not None and "train_batch_loss" in metrics:
        save(sweep.loss_curves_figure(metrics), folder / "loss_curves")


def build(results: Path, profile: str) -> None:
    """A4's figures under ``results`` (one profile's folder)."""
    plot_sweep(Path(results))

"""Figures for claims A1-A4, C2, C3 from the collected CSVs: ``python scripts/plot_hessian.py
results/quick``. Reads only CSVs; writes PNG + PDF next to them; skips experiments not run.
The figures are drawn by :mod:`initlab.report.plots.hessian` (the notebooks show the same):

* a1_a2_hessian_depth/lambda_max_vs_depth: lambda_max (and |lambda_min|) vs L, log y, with the
  fitted power law and exponential of every arm and their fit quality;
* a3_hessian_structure/hessian_heatmaps: |H| (max-pooled) and per-tensor block maxima per arm;
* a4_lr_sweep/loss_curves and accuracy_vs_lr;
* c2_max_lr_depth/max_lr_vs_depth with 2 / lambda_max from A1;
* c3_fisher_depth/fisher_vs_depth;
* a1_hessian_spectrum/spectral_density: SLQ density per arm and depth, Hutchinson traces.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from initlab.report.figures import save_figure  # noqa: E402
from initlab.report.plots import hessian  # noqa: E402
from initlab.report.plots.common import read_completed  # noqa: E402


def save(fig: plt.Figure, path: Path) -> None:
    save_figure(fig, path, dpi=hessian.DPI, tight_bbox=True)


def plot_depth(results: Path) -> None:
    frame = read_completed(results / "a1_a2_hessian_depth" / "summary.csv")
    if frame is not None:
        save(
            hessian.lambda_depth_figure(frame),
            results / "a1_a2_hessian_depth" / "lambda_max_vs_depth",
        )


def plot_structure(results: Path) -> None:
    folder = results / "a3_hessian_structure"
    matrix = read_completed(folder / "hessian_matrix.csv")
    blocks = read_completed(folder / "hessian_blocks.csv")
    if matrix is None or blocks is None:
        return
    summary = read_completed(folder / "summary.csv")
    save(hessian.hessian_heatmaps_figure(matrix, blocks, summary), folder / "hessian_heatmaps")


def plot_sweep(results: Path) -> None:
    folder = results / "a4_lr_sweep"
    if not (folder / "summary.csv").exists():
        return
    save(
        hessian.accuracy_vs_lr_figure(pd.read_csv(folder / "summary.csv")),
        folder / "accuracy_vs_lr",
    )
    metrics = read_completed(folder / "metrics.csv")
    if metrics is not None and "train_batch_loss" in metrics:
        save(hessian.loss_curves_figure(metrics), folder / "loss_curves")


def plot_max_lr(results: Path) -> None:
    frame = read_completed(results / "c2_max_lr_depth" / "summary.csv")
    if frame is not None:
        a1 = read_completed(results / "a1_a2_hessian_depth" / "summary.csv")
        save(hessian.max_lr_figure(frame, a1), results / "c2_max_lr_depth" / "max_lr_vs_depth")


def plot_fisher(results: Path) -> None:
    frame = read_completed(results / "c3_fisher_depth" / "summary.csv")
    if frame is not None:
        save(hessian.fisher_figure(frame), results / "c3_fisher_depth" / "fisher_vs_depth")


def plot_spectrum(results: Path) -> None:
    folder = results / "a1_hessian_spectrum"
    spectrum = read_completed(folder / "spectrum.csv")
    summary = read_completed(folder / "summary.csv")
    if spectrum is not None and summary is not None:
        save(hessian.spectrum_figure(spectrum, summary), folder / "spectral_density")


def main(results: Path) -> None:
    plots = (plot_depth, plot_structure, plot_sweep, plot_max_lr, plot_fisher, plot_spectrum)
    for plot in plots:
        plot(results)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/quick"))

"""Paper A's figures from the collected CSVs (``make report``; never trains):

* ``a1_a2_hessian_depth/lambda_max_vs_depth``: lambda_max (and |lambda_min|) vs L, log y, every
  arm on one axis with the range over seeds, then per arm the sqrt(L) reference, the fitted power
  law, exponential and nested law with their 95% bands and fit quality;
* ``a3_hessian_structure/hessian_heatmaps``: |H| (max-pooled) and per-tensor block maxima per arm,
  one colour scale per row, axes named by tensor, zeros (up to round-off) in grey;
* ``a1_hessian_spectrum/spectral_density``: SLQ density per arm and depth, Hutchinson traces.

Drawn by :mod:`initlab.papers.fixup_hessian.figures` (the notebooks show the same); written as
PNG + PDF next to the CSVs; experiments not run are skipped.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from initlab.papers.fixup_hessian import figures as hessian
from initlab.report.common import read_completed
from initlab.report.figures import save_figure


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


def plot_spectrum(results: Path) -> None:
    folder = results / "a1_hessian_spectrum"
    spectrum = read_completed(folder / "spectrum.csv")
    summary = read_completed(folder / "summary.csv")
    if spectrum is not None and summary is not None:
        save(hessian.spectrum_figure(spectrum, summary), folder / "spectral_density")


def build(results: Path, profile: str) -> None:
    """Every figure of paper A under ``results`` (one profile's folder)."""
    for plot in (plot_depth, plot_structure, plot_spectrum):
        plot(Path(results))

"""Figures of paper C (C2: the largest learning rate vs depth; C3: the Fisher's top eigenvalue
vs depth), from the collected CSVs. They share the depth panels of paper A
(:func:`initlab.papers.fixup_hessian.figures.depth_panel`). C1's figure is paper B's
``angle_by_arch`` (:mod:`initlab.papers.angles.figures`), as C1 is measured on B's experiment.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from initlab.papers.fixup_hessian.figures import DEPTH, depth_panel, legend_outside
from initlab.report.common import ARM_COLORS


def max_lr_figure(summary: pd.DataFrame, hessian: pd.DataFrame | None = None) -> plt.Figure:
    """C2 from ``c2_max_lr_depth/summary.csv``: every seed's bisection bracket [low, high] as a
    vertical bar, the min-max band over seeds, the median, the winning law with its interval,
    and with A1's summary 2 / lambda_max per arm; semi-log and log-log panels."""
    frame = summary[summary["max_lr"] > 0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, loglog in zip(axes, (False, True), strict=True):
        depth_panel(ax, frame, "max_lr", "largest non-diverging learning rate (GD)", loglog)
        for arm, rows in frame.groupby("arm"):
            color = ARM_COLORS.get(arm)
            band = rows.groupby(DEPTH)["max_lr"].agg(["min", "max"]).sort_index(kind="stable")
            ax.fill_between(band.index, band["min"], band["max"], color=color, alpha=0.15)
            if {"lr_bracket_low", "lr_bracket_high"} <= set(rows.columns):
                ax.vlines(
                    rows[DEPTH], rows["lr_bracket_low"], rows["lr_bracket_high"], color=color, lw=2
                )
        if hessian is not None:
            for arm, rows in hessian.groupby("arm"):
                if arm in set(frame["arm"]):
                    edge = (2 / rows.groupby(DEPTH)["lambda_max"].median()).sort_index(
                        kind="stable"
                    )
                    edge = edge[edge.index <= frame[DEPTH].max()]  # the depths C2 measured
                    ax.plot(
                        edge.index,
                        edge.values,
                        "x:",
                        color=ARM_COLORS.get(arm),
                        lw=1,
                        label=f"2/lambda_max {arm} (A1)",
                    )
    seeds = frame["seed"].nunique() if "seed" in frame else 1
    fig.suptitle(
        f"C2: max learning rate vs depth ({seeds} seed(s); bars: bisection brackets, band: "
        "min-max over seeds, dashed: winning law [95% interval])",
        fontsize=9,
    )
    legend_outside(fig, axes[0])
    return fig


def fisher_figure(summary: pd.DataFrame) -> plt.Figure:
    """C3 from ``c3_fisher_depth/summary.csv``: one row per matrix (true, empirical Fisher),
    semi-log and log-log; exact zeros (a saturated softmax) are left out."""
    if "matrix" not in summary:
        summary = summary.assign(matrix="fisher_true")
    matrices = sorted(summary["matrix"].unique(), reverse=True)
    fig, axes = plt.subplots(len(matrices), 2, figsize=(10, 3.8 * len(matrices)), squeeze=False)
    for pair, matrix in zip(axes, matrices, strict=True):
        rows = summary[(summary["matrix"] == matrix) & (summary["lambda_max"] > 0)]
        for ax, loglog in zip(pair, (False, True), strict=True):
            depth_panel(ax, rows, "lambda_max", f"top eigenvalue, {matrix}", loglog=loglog)
    fig.suptitle(
        "C3: Fisher top eigenvalue at init vs depth; dashed: winning law [95% interval]",
        fontsize=9,
    )
    fig.tight_layout()
    for pair in axes:
        legend_outside(fig, pair[0], pair[1])
    return fig

"""Figures of papers A (Fixup and the Hessian) and C (depth, learning rate, Fisher).

* :func:`lambda_depth_figure`: lambda_max (and |lambda_min|) vs L with the fitted laws (A1, A2);
* :func:`hessian_heatmaps_figure`: |H| (max-pooled) and per-tensor block maxima per arm (A3);
* :func:`accuracy_vs_lr_figure`, :func:`loss_curves_figure`, :func:`best_lr_loss_figure` (A4);
* :func:`max_lr_figure`: the largest learning rate vs depth with 2 / lambda_max from A1 (C2);
* :func:`fisher_figure`: the Fisher's top eigenvalue vs depth (C3).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from initlab.analysis.laws import compare_laws
from initlab.report.common import ARM_COLORS

DEPTH = "model.depth"
#: resolution the report saves these figures at
DPI = 130
#: line style, width and alpha of each fitted law in :func:`depth_panel`
LAW_STYLES = {"sqrt": ("-.", 0.6, 0.7), "power": ("--", 0.8, None), "exponential": (":", 0.8, None)}


def depth_panel(
    ax: plt.Axes, frame: pd.DataFrame, column: str, ylabel: str, sqrt: bool = False
) -> None:
    """Seeds as dots, the median as a line, and both fitted laws per arm with their R^2."""
    for arm, rows in frame[frame[column].notna()].groupby("arm"):
        color = ARM_COLORS.get(arm)
        y_all = rows[column].abs()
        ax.scatter(rows[DEPTH], y_all, s=10, alpha=0.4, color=color)
        med = rows.assign(v=y_all).groupby(DEPTH)["v"].median().sort_index()
        med = med[med > 0]
        ax.plot(med.index, med.values, "o-", color=color, label=arm, lw=1.5)
        if len(med) >= 3:
            fits = compare_laws(med.index, med.values, ("power", "exponential", "sqrt"))
            grid = np.linspace(med.index.min(), med.index.max(), 100)
            names = {
                "sqrt": "sqrt(L)",
                "power": f"L^{fits['power'].params['exponent']:.2f}",
                "exponential": f"e^({fits['exponential'].params['rate']:.2f}L)",
            }
            for law in (*(("sqrt",) if sqrt else ()), "power", "exponential"):
                fit = fits[law]
                style, lw, alpha = LAW_STYLES[law]
                label = f"  {names[law]} (R2 {fit.r2_log:.3f})"
                ax.plot(
                    grid, fit.predict(grid), style, color=color, lw=lw, alpha=alpha, label=label
                )
    ax.set_yscale("log")
    ax.set_xlabel("residual blocks L (depth)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=6, ncol=2)


def lambda_depth_figure(summary: pd.DataFrame) -> plt.Figure:
    """A1/A2 from ``a1_a2_hessian_depth/summary.csv`` (completed runs)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    depth_panel(axes[0], summary, "lambda_max", "lambda_max of the Hessian at init", sqrt=True)
    axes[0].set_title("top eigenvalue (fits: -- power, : exponential, -. sqrt)")
    if "lambda_min" in summary:
        depth_panel(axes[1], summary, "lambda_min", "|lambda_min|")
        axes[1].set_title("most negative eigenvalue (magnitude)")
    return fig


def _first_seed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["seed"] == frame["seed"].min()] if "seed" in frame else frame


def hessian_heatmaps_figure(
    matrix: pd.DataFrame, blocks: pd.DataFrame, summary: pd.DataFrame | None = None
) -> plt.Figure:
    """A3 from ``a3_hessian_structure``'s ``hessian_matrix``, ``hessian_blocks`` and (for the
    zero-block fraction in the titles) ``summary`` tables; the first seed of every arm."""
    arms = sorted(matrix["arm"].unique())
    fig, axes = plt.subplots(2, len(arms), figsize=(3.6 * len(arms), 7.2), squeeze=False)
    for col, arm in enumerate(arms):
        m = _first_seed(matrix[matrix["arm"] == arm])
        cells = int(m["cell_row"].max()) + 1
        grid = np.zeros((cells, cells))
        grid[m["cell_row"], m["cell_col"]] = m["abs_max"]
        positive = grid[grid > 0]
        norm = LogNorm(positive.min(), positive.max()) if positive.size else None
        ax = axes[0, col]
        ax.imshow(
            np.where(grid > 0, grid, np.nan), norm=norm, cmap="viridis", interpolation="nearest"
        )
        frac = ""
        if summary is not None and (summary["arm"] == arm).any():
            frac = (
                f"\nzero blocks {summary[summary['arm'] == arm]['zero_block_fraction'].mean():.2f}"
            )
        ax.set_title(f"{arm}: |H| (white = 0){frac}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        b = _first_seed(blocks[blocks["arm"] == arm])
        t = int(b["row_index"].max()) + 1
        bgrid = np.zeros((t, t))
        bgrid[b["row_index"], b["col_index"]] = b["abs_max"]
        pos = bgrid[bgrid > 0]
        ax = axes[1, col]
        ax.imshow(
            np.where(bgrid > 0, bgrid, np.nan),
            cmap="magma",
            norm=LogNorm(pos.min(), pos.max()) if pos.size else None,
            interpolation="nearest",
        )
        ax.set_title("max |H| per parameter-tensor block", fontsize=8)
        ax.set_xlabel("parameter tensor")
    return fig


def accuracy_vs_lr_figure(summary: pd.DataFrame) -> plt.Figure:
    """A4: mean test accuracy per learning rate and arm from ``a4_lr_sweep/summary.csv`` with
    every run (a run that did not complete counts as accuracy 0)."""
    summary = summary.copy()
    summary["acc"] = summary.get("test_accuracy", np.nan)
    summary.loc[summary["status"] != "completed", "acc"] = 0.0
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for arm, rows in summary.groupby("arm"):
        curve = rows.groupby("optim.lr")["acc"].mean().sort_index()
        ax.plot(curve.index, curve.values, "o-", color=ARM_COLORS.get(arm), label=arm)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy (0: diverged)")
    ax.legend(fontsize=8)
    return fig


def loss_curves_figure(metrics: pd.DataFrame) -> plt.Figure:
    """A4: minibatch training loss of every learning rate, one panel per arm, from the completed
    runs of ``a4_lr_sweep/metrics.csv`` (needs ``train_batch_loss``)."""
    metrics = metrics[metrics["train_batch_loss"].notna()]
    arms = sorted(metrics["arm"].unique())
    fig, axes = plt.subplots(1, len(arms), figsize=(4 * len(arms), 3.6), sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    lrs = sorted(metrics["optim.lr"].unique())
    for ax, arm in zip(axes[0], arms):
        for i, lr in enumerate(lrs):
            rows = metrics[(metrics["arm"] == arm) & (metrics["optim.lr"] == lr)]
            ax.plot(
                rows["step"],
                rows["train_batch_loss"],
                color=cmap(i / max(len(lrs) - 1, 1)),
                label=f"lr {lr:g}",
                lw=1,
            )
        ax.set_yscale("log")
        ax.set_title(arm)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("training loss (minibatch)")
    axes[0, -1].legend(fontsize=7)
    return fig


def best_lr_loss_figure(accuracy: pd.DataFrame, metrics: pd.DataFrame) -> plt.Figure:
    """A4 (notebook): each arm's training loss (mean over seeds) at its best learning rate;
    ``accuracy`` is the mean test accuracy with learning rates as rows and arms as columns."""
    metrics = metrics[metrics["train_batch_loss"].notna()]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for arm in accuracy.columns:
        lr = accuracy[arm].idxmax()
        run = metrics[(metrics["arm"] == arm) & (metrics["optim.lr"] == lr)]
        loss = run.groupby("step")["train_batch_loss"].mean()
        ax.plot(loss.index, loss.to_numpy(), color=ARM_COLORS.get(arm), label=f"{arm}, lr {lr:g}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (minibatch)")
    ax.set_title("each arm at its best learning rate", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def max_lr_figure(summary: pd.DataFrame, hessian: pd.DataFrame | None = None) -> plt.Figure:
    """C2 from ``c2_max_lr_depth/summary.csv``; with A1's summary, 2 / lambda_max per arm."""
    frame = summary[summary["max_lr"] > 0]
    fig, ax = plt.subplots(figsize=(7, 5))
    depth_panel(ax, frame, "max_lr", "largest non-diverging learning rate (GD)")
    if hessian is not None:
        for arm, rows in hessian.groupby("arm"):
            if arm in set(frame["arm"]):
                edge = (2 / rows.groupby(DEPTH)["lambda_max"].median()).sort_index()
                ax.plot(
                    edge.index,
                    edge.values,
                    "x-.",
                    color=ARM_COLORS.get(arm),
                    lw=1,
                    label=f"2/lambda_max {arm}",
                )
        ax.legend(fontsize=6, ncol=2)
    ax.set_title("max learning rate vs depth (x: 2 / lambda_max at init, A1)")
    return fig


def fisher_figure(summary: pd.DataFrame) -> plt.Figure:
    """C3 from ``c3_fisher_depth/summary.csv``: one panel per matrix (true, empirical Fisher)."""
    if "matrix" not in summary:
        summary = summary.assign(matrix="fisher_true")
    matrices = sorted(summary["matrix"].unique(), reverse=True)
    fig, axes = plt.subplots(1, len(matrices), figsize=(7 * len(matrices), 5), squeeze=False)
    for ax, matrix in zip(axes[0], matrices, strict=True):
        rows = summary[(summary["matrix"] == matrix) & (summary["lambda_max"] > 0)]
        depth_panel(ax, rows, "lambda_max", f"top eigenvalue of the {matrix} at init")
        ax.set_title(f"{matrix} vs depth (exact zeros, a saturated softmax, left out)")
    return fig

"""Figures for claims A1-A4, C2, C3 from the collected CSVs: ``python scripts/plot_hessian.py
results/quick``. Reads only CSVs; writes PNG + PDF next to them; skips experiments not run.

* a1_a2_hessian_depth/lambda_max_vs_depth: lambda_max (and |lambda_min|) vs L, log y, with the
  fitted power law and exponential of every arm and their fit quality;
* a3_hessian_structure/hessian_heatmaps: |H| (max-pooled) and per-tensor block maxima per arm;
* a4_lr_sweep/loss_curves and accuracy_vs_lr;
* c2_max_lr_depth/max_lr_vs_depth with 2 / lambda_max from A1;
* c3_fisher_depth/fisher_vs_depth.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from initlab.analysis.laws import compare_laws  # noqa: E402
from initlab.report.figures import save_figure  # noqa: E402

DEPTH = "model.depth"
COLORS = {
    "resnet_he": "tab:red",
    "resnet_fixup": "tab:blue",
    "resnet_bn": "tab:green",
    "resnet_bn_zero": "tab:olive",
    "mlp_he": "tab:purple",
}


def completed(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    return frame[frame["status"] == "completed"] if "status" in frame else frame


def save(fig: plt.Figure, path: Path) -> None:
    save_figure(fig, path, dpi=130)


def depth_panel(
    ax: plt.Axes, frame: pd.DataFrame, column: str, ylabel: str, sqrt: bool = False
) -> None:
    """Seeds as dots, the median as a line, and both fitted laws per arm with their R^2."""
    for arm, rows in frame[frame[column].notna()].groupby("arm"):
        color = COLORS.get(arm)
        y_all = rows[column].abs()
        ax.scatter(rows[DEPTH], y_all, s=10, alpha=0.4, color=color)
        med = rows.assign(v=y_all).groupby(DEPTH)["v"].median().sort_index()
        med = med[med > 0]
        ax.plot(med.index, med.values, "o-", color=color, label=arm, lw=1.5)
        if len(med) >= 3:
            fits = compare_laws(med.index, med.values, ("power", "exponential", "sqrt"))
            grid = np.linspace(med.index.min(), med.index.max(), 100)
            p, e, r = fits["power"], fits["exponential"], fits["sqrt"]
            if sqrt:
                ax.plot(
                    grid,
                    r.predict(grid),
                    "-.",
                    color=color,
                    lw=0.6,
                    alpha=0.7,
                    label=f"  sqrt(L) (R2 {r.r2_log:.3f})",
                )
            ax.plot(
                grid,
                p.predict(grid),
                "--",
                color=color,
                lw=0.8,
                label=f"  L^{p.params['exponent']:.2f} (R2 {p.r2_log:.3f})",
            )
            ax.plot(
                grid,
                e.predict(grid),
                ":",
                color=color,
                lw=0.8,
                label=f"  e^({e.params['rate']:.2f}L) (R2 {e.r2_log:.3f})",
            )
    ax.set_yscale("log")
    ax.set_xlabel("residual blocks L (depth)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=6, ncol=2)


def plot_depth(results: Path) -> None:
    frame = completed(results / "a1_a2_hessian_depth" / "summary.csv")
    if frame is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    depth_panel(axes[0], frame, "lambda_max", "lambda_max of the Hessian at init", sqrt=True)
    axes[0].set_title("top eigenvalue (fits: -- power, : exponential, -. sqrt)")
    if "lambda_min" in frame:
        depth_panel(axes[1], frame, "lambda_min", "|lambda_min|")
        axes[1].set_title("most negative eigenvalue (magnitude)")
    save(fig, results / "a1_a2_hessian_depth" / "lambda_max_vs_depth")


def plot_structure(results: Path) -> None:
    folder = results / "a3_hessian_structure"
    matrix, blocks = (
        completed(folder / "hessian_matrix.csv"),
        completed(folder / "hessian_blocks.csv"),
    )
    summary = completed(folder / "summary.csv")
    if matrix is None or blocks is None:
        return
    arms = sorted(matrix["arm"].unique())
    fig, axes = plt.subplots(2, len(arms), figsize=(3.6 * len(arms), 7.2), squeeze=False)
    for col, arm in enumerate(arms):
        m = matrix[matrix["arm"] == arm]
        if "seed" in m:
            m = m[m["seed"] == m["seed"].min()]
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
        b = blocks[blocks["arm"] == arm]
        if "seed" in b:
            b = b[b["seed"] == b["seed"].min()]
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
    save(fig, folder / "hessian_heatmaps")


def plot_sweep(results: Path) -> None:
    folder = results / "a4_lr_sweep"
    summary_path = folder / "summary.csv"
    if not summary_path.exists():
        return
    summary = pd.read_csv(summary_path)
    summary["acc"] = summary.get("test_accuracy", np.nan)
    summary.loc[summary["status"] != "completed", "acc"] = 0.0
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for arm, rows in summary.groupby("arm"):
        curve = rows.groupby("optim.lr")["acc"].mean().sort_index()
        ax.plot(curve.index, curve.values, "o-", color=COLORS.get(arm), label=arm)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy (0: diverged)")
    ax.legend(fontsize=8)
    save(fig, folder / "accuracy_vs_lr")
    metrics = completed(folder / "metrics.csv")
    if metrics is None or "train_batch_loss" not in metrics:
        return
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
    save(fig, folder / "loss_curves")


def plot_max_lr(results: Path) -> None:
    frame = completed(results / "c2_max_lr_depth" / "summary.csv")
    if frame is None:
        return
    frame = frame[frame["max_lr"] > 0]
    fig, ax = plt.subplots(figsize=(7, 5))
    depth_panel(ax, frame, "max_lr", "largest non-diverging learning rate (GD)")
    hessian = completed(results / "a1_a2_hessian_depth" / "summary.csv")
    if hessian is not None:
        for arm, rows in hessian.groupby("arm"):
            if arm in set(frame["arm"]):
                edge = (2 / rows.groupby(DEPTH)["lambda_max"].median()).sort_index()
                ax.plot(
                    edge.index,
                    edge.values,
                    "x-.",
                    color=COLORS.get(arm),
                    lw=1,
                    label=f"2/lambda_max {arm}",
                )
        ax.legend(fontsize=6, ncol=2)
    ax.set_title("max learning rate vs depth (x: 2 / lambda_max at init, A1)")
    save(fig, results / "c2_max_lr_depth" / "max_lr_vs_depth")


def plot_fisher(results: Path) -> None:
    frame = completed(results / "c3_fisher_depth" / "summary.csv")
    if frame is None:
        return
    if "matrix" not in frame:
        frame = frame.assign(matrix="fisher_true")
    matrices = sorted(frame["matrix"].unique(), reverse=True)
    fig, axes = plt.subplots(1, len(matrices), figsize=(7 * len(matrices), 5), squeeze=False)
    for ax, matrix in zip(axes[0], matrices, strict=True):
        rows = frame[(frame["matrix"] == matrix) & (frame["lambda_max"] > 0)]
        depth_panel(ax, rows, "lambda_max", f"top eigenvalue of the {matrix} at init")
        ax.set_title(f"{matrix} vs depth (exact zeros, a saturated softmax, left out)")
    save(fig, results / "c3_fisher_depth" / "fisher_vs_depth")


def main(results: Path) -> None:
    for plot in (plot_depth, plot_structure, plot_sweep, plot_max_lr, plot_fisher):
        plot(results)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/quick"))

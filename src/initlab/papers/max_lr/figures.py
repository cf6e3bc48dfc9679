"""Figures of paper C (C2: the largest learning rate vs depth; C3: the Fisher's top eigenvalue
vs depth), from the collected CSVs. They share the depth panels of paper A
(:func:`initlab.papers.fixup_hessian.figures.depth_panel`: every seed, the median, the winning
law with its 95% interval) and add: min-max bands over seeds, reference laws (1/L for BN in C2,
scaled to BN's points by :func:`reciprocal_scale`), 2 / lambda_max of the same runs (C2), and
explicit markers at the axis floor for what a log axis cannot show (no stable learning rate;
a Fisher exactly 0). C1's figure is paper B's ``angle_by_arch``
(:mod:`initlab.papers.angles.figures`), as C1 is measured on B's experiment.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.transforms import blended_transform_factory

from initlab.papers.fixup_hessian.figures import DEPTH, depth_panel, legend_outside
from initlab.papers.max_lr.claims import FISHER_NAMES, GRADED_FISHER, edge_ratios
from initlab.report.common import ARM_COLORS

#: marker of a run a log axis cannot show, drawn at the bottom of the panel
FLOOR_MARKER = dict(marker="v", s=46, edgecolors="black", linewidths=0.8, zorder=5)


def reciprocal_scale(depths: np.ndarray, values: np.ndarray) -> float:
    """The c of the reference law c / L closest to (depths, values) in log space (least squares
    with the slope fixed at -1: log c = mean(log v + log L)); values must be > 0."""
    depths, values = np.asarray(depths, float), np.asarray(values, float)
    if depths.size == 0 or np.any(values <= 0):
        raise ValueError("need at least one point, every value > 0")
    return float(np.exp(np.mean(np.log(values) + np.log(depths))))


def seed_band(ax: plt.Axes, rows: pd.DataFrame, column: str, color, alpha: float = 0.15) -> None:
    """Min-max over seeds of the positive values of ``column`` at each depth, shaded."""
    rows = rows[rows[column] > 0]
    if rows.empty:
        return
    band = rows.groupby(DEPTH)[column].agg(["min", "max"]).sort_index(kind="stable")
    ax.fill_between(band.index, band["min"], band["max"], color=color, alpha=alpha, lw=0)


def floor_markers(ax: plt.Axes, depths, color, label: str | None) -> None:
    """Markers at the bottom of ``ax`` (x in data, y in axes units) at ``depths``."""
    if len(depths) == 0:
        return
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    ax.scatter(depths, np.full(len(depths), 0.03), transform=trans, color=color, label=label,
               clip_on=False, **FLOOR_MARKER)  # fmt: skip


def _arms(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["arm"].unique())


def max_lr_figure(summary: pd.DataFrame, hessian: pd.DataFrame | None = None) -> plt.Figure:
    """C2 from ``c2_max_lr_depth/summary.csv``: max_lr (GD's stability edge found by bisection)
    vs depth per arm on semi-log and log-log panels (the latter without He, whose exponential
    spans ~15 decades and would flatten the others): every seed, the median, the min-max band
    over seeds, the winning law with its interval, 2 / lambda_max of the same runs (dotted, x)
    and the 1/L reference through BN's points (log-log); runs with no stable lr as markers at
    the floor. Third panel: max_lr * lambda_max / 2 vs depth (1: the quadratic model's edge).
    ``hessian`` (A1's summary) is not used: lambda_max comes from the same runs."""
    del hessian  # the same runs measure lambda_max (task.sharpness)
    positive = summary[summary["max_lr"] > 0]
    none_found = summary[summary["max_lr"] <= 0]
    has_lambda = "lambda_max" in summary and summary["lambda_max"].notna().any()
    panels = 3 if has_lambda else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4))
    for ax, loglog in zip(axes[:2], (False, True), strict=True):
        # log-log without He: its ~15 decades would flatten the power laws the panel is for
        shown = positive[positive["arm"] != "resnet_he"] if loglog else positive
        depth_panel(ax, shown, "max_lr", "largest stable lr of full-batch GD", loglog)
        first = not loglog
        for arm, rows in shown.groupby("arm"):
            color = ARM_COLORS.get(arm)
            seed_band(ax, rows, "max_lr", color)
            if has_lambda:
                lam = rows[rows["lambda_max"] > 0]
                edge = (2 / lam.groupby(DEPTH)["lambda_max"].median()).sort_index(kind="stable")
                ax.plot(edge.index, edge.values, "x:", color=color, lw=1, ms=5,
                        label=f"2/lambda_max {arm} (same runs)" if first else None)  # fmt: skip
        for arm, rows in none_found[none_found["arm"].isin(shown["arm"].unique())].groupby("arm"):
            floor_markers(ax, rows[DEPTH].to_numpy(float), ARM_COLORS.get(arm),
                          f"{arm}: no stable lr (max_lr = 0)" if first else None)  # fmt: skip
        if loglog and (positive["arm"] == "resnet_bn").any():
            bn = positive[positive["arm"] == "resnet_bn"]
            c = reciprocal_scale(bn[DEPTH].to_numpy(float), bn["max_lr"].to_numpy(float))
            grid = np.geomspace(bn[DEPTH].min(), bn[DEPTH].max(), 50)
            axes[0].plot([], [], "k-.", lw=1.2, label=f"reference c/L through BN ({c:.3g}/L)")
            ax.plot(grid, c / grid, "k-.", lw=1.2)
    axes[0].set_title("log y: an exponential is straight", fontsize=9)
    axes[1].set_title(
        "log-log, He left out (left panel): a power law is straight; dash-dot: c/L", fontsize=9
    )
    if has_lambda:
        ax = axes[2]
        ratios = summary.assign(edge_ratio=edge_ratios(summary))
        ratios = ratios[ratios["edge_ratio"] > 0]
        for arm, rows in ratios.groupby("arm"):
            color = ARM_COLORS.get(arm)
            ax.scatter(rows[DEPTH], rows["edge_ratio"], s=10, alpha=0.4, color=color)
            med = rows.groupby(DEPTH)["edge_ratio"].median().sort_index(kind="stable")
            ax.plot(med.index, med.values, "o-", color=color, lw=1.2, ms=3)
            seed_band(ax, rows, "edge_ratio", color)
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.text(1.0, 1.0, " max_lr = 2/lambda_max", transform=blended_transform_factory(
            ax.transAxes, ax.transData), fontsize=7, va="bottom", ha="right")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("residual blocks L (log scale)")
        ax.set_ylabel("max_lr x lambda_max / 2")
        ax.set_title("the edge found vs the quadratic model's 2/lambda_max", fontsize=9)
    seeds = summary["seed"].nunique() if "seed" in summary else 1
    criterion = ", ".join(sorted(summary["criterion"].dropna().unique())) if (
        "criterion" in summary) else "diverge"  # fmt: skip
    fig.suptitle(
        f"C2: largest stable learning rate of full-batch GD vs depth (criterion: {criterion}; "
        f"{seeds} seed(s); band: min-max over seeds; dashed: winning law [95% interval])",
        fontsize=9,
    )
    legend_outside(fig, axes[0])
    return fig


def _matrix_order(matrices) -> list[str]:
    known = [GRADED_FISHER, "fisher_true", "fisher_empirical"]
    return [m for m in known if m in set(matrices)] + sorted(set(matrices) - set(known))


def fisher_figure(summary: pd.DataFrame) -> plt.Figure:
    """C3 from ``c3_fisher_depth/summary.csv``: one row per Fisher (the Gaussian-output J^T J
    first: the graded one; the cross-entropy Fisher beside it), semi-log and log-log, one y
    scale per column (the log-log column without He, whose exponential spans ~25 decades);
    every seed, median, min-max band, winning law; runs whose top eigenvalue is exactly 0 (a
    saturated softmax) as markers at the floor, counted per arm."""
    if "matrix" not in summary:
        summary = summary.assign(matrix="fisher_true")
    matrices = _matrix_order(summary["matrix"].unique())
    fig, axes = plt.subplots(
        len(matrices), 2, figsize=(10, 3.9 * len(matrices)), squeeze=False, sharey="col"
    )
    for pair, matrix in zip(axes, matrices, strict=True):
        rows = summary[(summary["matrix"] == matrix) & summary["lambda_max"].notna()]
        positive = rows[rows["lambda_max"] > 0]
        zeros = rows[rows["lambda_max"] <= 0]
        name = FISHER_NAMES.get(matrix, matrix)
        for ax, loglog in zip(pair, (False, True), strict=True):
            # log-log without He: its ~25 decades would flatten the MLP and BN curves
            shown = positive[positive["arm"] != "resnet_he"] if loglog else positive
            depth_panel(ax, shown, "lambda_max", "top eigenvalue", loglog=loglog)
            for arm, arm_rows in shown.groupby("arm"):
                seed_band(ax, arm_rows, "lambda_max", ARM_COLORS.get(arm))
            shown_zeros = zeros[zeros["arm"] != "resnet_he"] if loglog else zeros
            for arm, arm_rows in shown_zeros.groupby("arm"):
                label = None
                if not loglog:
                    count = f"{len(arm_rows)}/{int((rows['arm'] == arm).sum())}"
                    label = f"{arm}: exactly 0 in {count} runs (at the floor)"
                floor_markers(ax, arm_rows[DEPTH].to_numpy(float), ARM_COLORS.get(arm), label)
        graded = " (graded)" if matrix == GRADED_FISHER else " (shown beside)"
        pair[0].set_title(f"{name}{graded}: exactly 0 in {len(zeros)}/{len(rows)} runs", fontsize=9)
        pair[1].set_title(f"{name}, log-log, He left out (left panel)", fontsize=9)
    fig.suptitle(
        "C3: Fisher top eigenvalue at init vs depth (one y scale per column; band: min-max over "
        "seeds; "
        "dashed: winning law [95% interval]; v at the floor: exactly 0, no log)",
        fontsize=9,
    )
    fig.tight_layout()
    for pair in axes:
        legend_outside(fig, pair[0], pair[1])
    return fig

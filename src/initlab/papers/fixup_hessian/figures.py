"""Figures of paper A (Fixup and the Hessian); paper C's depth figures reuse its panels.

* :func:`lambda_depth_figure`: lambda_max (and |lambda_min|) vs L with the fitted laws (A1, A2);
* :func:`hessian_heatmaps_figure`: |H| (max-pooled) and per-tensor block maxima per arm (A3);
* :func:`depth_panel`, :func:`legend_outside`: the depth panels paper C's figures
  (:mod:`initlab.papers.max_lr.figures`) are drawn on;
* :func:`spectrum_figure`: the Hessian's spectral density (SLQ) per arm and depth (A1 companion).

Depth figures show every seed, the median, and one winning law per arm (the law the claim rules
pick from every seed's point) with the 95% interval of its exponent or rate, on semi-log and
log-log axes, with the legend outside the data.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from initlab.analysis.laws import LawFit, compare_laws, nested_choice
from initlab.report.common import ARM_COLORS

DEPTH = "model.depth"
#: resolution the report saves these figures at
DPI = 130


def winning_fit(x: np.ndarray, y: np.ndarray) -> tuple[LawFit, str]:
    """The law the claim rules would pick for these points (every seed's point: the nested fit's
    choice; the smaller RMSE when it is undecided) and its legend text with the 95% interval."""
    fits = compare_laws(x, y, ("power", "exponential"))
    choice = nested_choice(x, y).law if len(x) > 3 else "undecided"
    law = choice if choice != "undecided" else next(iter(fits))
    fit = fits[law]
    lo, hi = fit.interval(fit.free)
    value = fit.params[fit.free]
    shape = f"L^{value:.2f}" if law == "power" else f"e^({value:.2f} L)"
    tag = "" if choice != "undecided" else ", undecided"
    return fit, f"{shape} [{lo:.2f}, {hi:.2f}]{tag}"


def depth_panel(
    ax: plt.Axes, frame: pd.DataFrame, column: str, ylabel: str, loglog: bool = False
) -> None:
    """Every seed as a dot, the median as a line, and the winning law per arm (dashed) with its
    95% interval in the legend; log y, and log x too with ``loglog`` (power laws are straight
    there, exponentials on the other panel)."""
    for arm, rows in frame[frame[column].notna()].groupby("arm"):
        color = ARM_COLORS.get(arm)
        rows = rows.assign(v=rows[column].abs())
        rows = rows[rows["v"] > 0]
        ax.scatter(rows[DEPTH], rows["v"], s=10, alpha=0.4, color=color)
        med = rows.groupby(DEPTH)["v"].median().sort_index(kind="stable")
        ax.plot(med.index, med.values, "o-", color=color, lw=1.2, ms=3, label=arm)
        if med.size >= 3:
            fit, text = winning_fit(rows[DEPTH].to_numpy(float), rows["v"].to_numpy(float))
            grid = np.geomspace(med.index.min(), med.index.max(), 100)
            ax.plot(grid, fit.predict(grid), "--", color=color, lw=1, label=f"  fit {text}")
    ax.set_yscale("log")
    if loglog:
        ax.set_xscale("log", base=2)
    ax.set_xlabel("residual blocks L" + (" (log scale)" if loglog else ""))
    ax.set_ylabel(ylabel)


def legend_outside(fig: plt.Figure, ax: plt.Axes, row: plt.Axes | None = None) -> None:
    """The legend of ``ax``'s lines right of the panels (never over the data): beside the
    figure, or beside the axes ``row`` (the last panel of its row) when given. Lays the panels
    out first; save with a tight bounding box (the legend lies outside the canvas)."""
    fig.tight_layout()
    handles, labels = ax.get_legend_handles_labels()
    if row is not None:
        row.legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
        return
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)


def depth_figure(frame: pd.DataFrame, column: str, ylabel: str, title: str) -> plt.Figure:
    """One quantity vs depth: semi-log and log-log panels side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, loglog in zip(axes, (False, True), strict=True):
        depth_panel(ax, frame, column, ylabel, loglog=loglog)
    axes[0].set_title("log y: an exponential is straight", fontsize=9)
    axes[1].set_title("log-log: a power law is straight", fontsize=9)
    fig.suptitle(title, fontsize=10)
    legend_outside(fig, axes[0])
    return fig


def lambda_depth_figure(summary: pd.DataFrame) -> plt.Figure:
    """A1/A2 from ``a1_a2_hessian_depth/summary.csv`` (completed runs): lambda_max (top row) and
    |lambda_min| (bottom row), semi-log and log-log."""
    rows = [("lambda_max", "lambda_max of the Hessian at init")]
    if "lambda_min" in summary:
        rows.append(("lambda_min", "|lambda_min| of the Hessian at init"))
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 3.8 * len(rows)), squeeze=False)
    for (column, label), pair in zip(rows, axes, strict=True):
        for ax, loglog in zip(pair, (False, True), strict=True):
            depth_panel(ax, summary, column, label, loglog=loglog)
    axes[0, 0].set_title("log y: an exponential is straight", fontsize=9)
    axes[0, 1].set_title("log-log: a power law is straight", fontsize=9)
    fig.suptitle(
        "Hessian extreme eigenvalues at init vs depth; dashed: the winning law per arm, "
        "[95% interval] of its exponent / rate (fits on every seed)",
        fontsize=9,
    )
    fig.tight_layout()
    for pair in axes:
        legend_outside(fig, pair[0], pair[1])
    return fig


def _first_seed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["seed"] == frame["seed"].min()] if "seed" in frame else frame


def _colorbar(fig: plt.Figure, image, ax: plt.Axes, label: str) -> None:
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)


def hessian_heatmaps_figure(
    matrix: pd.DataFrame, blocks: pd.DataFrame, summary: pd.DataFrame | None = None
) -> plt.Figure:
    """A3 from ``a3_hessian_structure``'s ``hessian_matrix``, ``hessian_blocks`` and (for the
    zero-block fraction in the titles) ``summary`` tables; the first seed of every arm."""
    arms = sorted(matrix["arm"].unique())
    fig, axes = plt.subplots(2, len(arms), figsize=(4.8 * len(arms), 7.6), squeeze=False)
    for col, arm in enumerate(arms):
        m = _first_seed(matrix[matrix["arm"] == arm])
        cells = int(m["cell_row"].max()) + 1
        grid = np.zeros((cells, cells))
        grid[m["cell_row"], m["cell_col"]] = m["abs_max"]
        positive = grid[grid > 0]
        norm = LogNorm(positive.min(), positive.max()) if positive.size else None
        ax = axes[0, col]
        image = ax.imshow(
            np.where(grid > 0, grid, np.nan), norm=norm, cmap="viridis", interpolation="nearest"
        )
        _colorbar(fig, image, ax, "max |H_ij| in the cell")
        frac = ""
        if summary is not None and (summary["arm"] == arm).any():
            frac = (
                f"\nzero blocks {summary[summary['arm'] == arm]['zero_block_fraction'].mean():.2f}"
            )
        ax.set_title(f"{arm}: |H| (white = 0){frac}", fontsize=8)
        ax.set_xlabel("parameter index (max-pooled cells)", fontsize=7)
        ax.set_ylabel("parameter index (max-pooled cells)", fontsize=7)
        ax.tick_params(labelsize=6)
        b = _first_seed(blocks[blocks["arm"] == arm])
        t = int(b["row_index"].max()) + 1
        bgrid = np.zeros((t, t))
        bgrid[b["row_index"], b["col_index"]] = b["abs_max"]
        pos = bgrid[bgrid > 0]
        ax = axes[1, col]
        image = ax.imshow(
            np.where(bgrid > 0, bgrid, np.nan),
            cmap="magma",
            norm=LogNorm(pos.min(), pos.max()) if pos.size else None,
            interpolation="nearest",
        )
        _colorbar(fig, image, ax, "max |H| in the block")
        ax.set_title("max |H| per parameter-tensor block (white = 0)", fontsize=8)
        ax.set_xlabel("parameter tensor (model order)", fontsize=7)
        ax.set_ylabel("parameter tensor (model order)", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def _symlog_edges(span: float, floor: float, per_side: int = 24) -> np.ndarray:
    """Bin edges: log-spaced from ``floor`` to ``span`` on both sides, one bin around 0."""
    pos = np.geomspace(floor, span * 1.01, per_side + 1)
    return np.concatenate([-pos[::-1], pos])


def spectrum_figure(spectrum: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """A1 companion from ``a1_hessian_spectrum``: the SLQ spectral density of the Hessian per
    arm (one panel each), one step curve per depth: the probe-averaged Gauss-quadrature weight
    (the share of eigenvalues) in log-spaced bins of |lambda| on either side of 0 (the middle bin
    holds |lambda| < 1e-6 x the largest). Hutchinson's trace +- s.e. in the legend."""
    arms = sorted(spectrum["arm"].unique())
    fig, axes = plt.subplots(1, len(arms), figsize=(4.8 * len(arms), 3.9), squeeze=False)
    cmap = plt.get_cmap("viridis")
    depths = sorted(spectrum[DEPTH].unique())
    for ax, arm in zip(axes[0], arms, strict=True):
        part = spectrum[spectrum["arm"] == arm]
        span = float(part["node"].abs().max())
        floor = span * 1e-6
        edges = _symlog_edges(span, floor)
        for i, depth in enumerate(depths):
            rows = part[part[DEPTH] == depth]
            if rows.empty:
                continue
            weights = rows["weight"].to_numpy() / rows["probe"].nunique()
            mass, _ = np.histogram(np.clip(rows["node"], -span, span), edges, weights=weights)
            info = summary[(summary["arm"] == arm) & (summary[DEPTH] == depth)]
            label = f"L={int(depth)}"
            if len(info) and "trace" in info:
                t, se = float(info["trace"].iloc[0]), float(info["trace_se"].iloc[0])
                label += f", trace {t:.3g} +- {se:.2g}"
            ax.stairs(mass, edges, color=cmap(i / max(len(depths) - 1, 1)), lw=1.2, label=label)
        ax.set_xscale("symlog", linthresh=floor)
        decades = np.arange(np.ceil(np.log10(floor)), np.floor(np.log10(span)) + 1)
        step = max(1, int(np.ceil(len(decades) / 3)))
        shown = 10.0 ** decades[::-1][::step]
        ticks = np.concatenate([-shown, [0.0], shown[::-1]])
        ax.set_xticks(ticks, [f"{t:.0e}" if t else "0" for t in ticks], rotation=45, fontsize=6)
        ax.minorticks_off()
        ax.set_xlabel("Hessian eigenvalue (symmetric log bins)")
        ax.set_ylabel("share of the spectrum per bin")
        ax.set_title(arm, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(
        "Hessian spectral density at init by stochastic Lanczos quadrature (3 probes x 30 "
        "steps); trace: Hutchinson +- s.e.",
        fontsize=9,
    )
    fig.tight_layout()
    return fig

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
from matplotlib.colors import ListedColormap, LogNorm

from initlab.analysis.laws import LawFit, compare_laws, nested_choice
from initlab.papers.fixup_hessian.claims import (
    LawBand,
    deep_half,
    depth_points,
    fit_points,
    law_band,
)
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


#: how each law is drawn on the per-arm panels: line style and legend name
LAW_STYLE = {
    "sqrt": (":", "sqrt(L) reference (fitted prefactor)"),
    "power": ("-", "power law"),
    "exponential": ("--", "exponential"),
    "nested": ("-.", "nested"),
}
#: the arms of A1/A2, in panel order
DEPTH_ARMS = ("resnet_fixup", "resnet_he", "resnet_bn", "resnet_bn_zero")


def seed_band(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per depth: the median over seeds of |column| and the range (min, max) over seeds."""
    rows = frame.assign(v=frame[column].abs())
    rows = rows[rows["v"] > 0]
    stats = rows.groupby(DEPTH)["v"].agg(["median", "min", "max", "count"])
    return stats.sort_index(kind="stable")


def _law_label(law: str, band: LawBand, points: tuple[np.ndarray, np.ndarray]) -> str:
    name = LAW_STYLE[law][1]
    if law == "sqrt":
        return f"{name}, RMSE log {band.rmse_log:.2f}"
    fits = fit_points(*points)
    if law == "nested":
        r, p = fits.choice.rate, fits.choice.exponent
        return (
            f"nested L^p e^(rL): r {r.value:.3f} [{r.lo:.3f}, {r.hi:.3f}], p {p.value:.2f}, "
            f"RMSE log {band.rmse_log:.2f}"
        )
    estimate = fits.exponent if law == "power" else fits.rate
    digits = 2 if law == "power" else 3
    shape = f"L^{estimate.value:.2f}" if law == "power" else f"e^({estimate.value:.3f} L)"
    return (
        f"{name} {shape}, [{estimate.lo:.{digits}f}, {estimate.hi:.{digits}f}] (95%), RMSE log "
        f"{band.rmse_log:.2f}"
    )


def law_panel(ax: plt.Axes, frame: pd.DataFrame, arm: str, column: str = "lambda_max") -> None:
    """One arm: every seed (dots), the median with the range over seeds (band), and the sqrt
    reference, the fitted power law and the fitted exponential, each with its 95% confidence
    band (:func:`initlab.papers.fixup_hessian.claims.law_band`); log-log axes."""
    rows = frame[(frame["arm"] == arm) & frame[column].notna()]
    color = ARM_COLORS.get(arm, "0.3")
    stats = seed_band(rows, column)
    if stats.empty:
        ax.set_title(f"{arm}: no positive {column}", fontsize=8)
        return
    points = depth_points(frame, arm, column)
    ax.scatter(points[0], points[1], s=8, alpha=0.45, color=color, zorder=3)
    ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15, lw=0)
    seeds = int(stats["count"].max())
    ax.plot(stats.index, stats["median"], "o-", color=color, ms=3, lw=1.2,
            label=f"median, band: range over {seeds} seeds")  # fmt: skip
    if len(stats) >= 3:
        grid = np.geomspace(stats.index.min(), stats.index.max(), 120)
        for law, (style, _) in LAW_STYLE.items():
            band = law_band(law, *points, grid)
            ax.plot(grid, band.center, style, color="k", lw=1,
                    label=_law_label(law, band, points))  # fmt: skip
            ax.fill_between(grid, band.lo, band.hi, color="k", alpha=0.08, lw=0)
        deep = deep_half(rows[rows[column] > 0])
        if deep[DEPTH].nunique() >= 3:  # A1's second exponent: the deep half's power law
            x, y = deep_points = depth_points(deep, arm, column)
            part = np.geomspace(x.min(), x.max(), 60)
            band = law_band("power", x, y, part)
            estimate = fit_points(*deep_points).exponent
            ax.plot(part, band.center, "-", color="tab:gray", lw=2.5, alpha=0.7, zorder=2,
                    label=f"power law on L >= {x.min():g}: L^{estimate.value:.2f}, "
                    f"[{estimate.lo:.2f}, {estimate.hi:.2f}] (95%)")  # fmt: skip
            ax.fill_between(part, band.lo, band.hi, color="tab:gray", alpha=0.2, lw=0)
    # the data's range (a factor 3 either side): a law far off the data leaves the panel
    low, high = float(stats["min"].min()), float(stats["max"].max())
    ax.set_ylim(low / 3, high * 3)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("residual blocks L (log scale)", fontsize=8)
    ax.set_ylabel(f"{column} of the Hessian at init", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(arm, fontsize=9, color=color)
    ax.legend(fontsize=6, loc="upper left")


def overview_panel(ax: plt.Axes, frame: pd.DataFrame, loglog: bool) -> None:
    """Every arm on one shared axis: median lambda_max over seeds with the range over seeds as
    a band, and |lambda_min|'s median (thin, dotted) where measured."""
    for arm in [a for a in DEPTH_ARMS if (frame["arm"] == a).any()]:
        rows = frame[frame["arm"] == arm]
        color = ARM_COLORS.get(arm)
        stats = seed_band(rows, "lambda_max")
        ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.2, lw=0)
        ax.plot(stats.index, stats["median"], "o-", color=color, ms=3, lw=1.2, label=arm)
        if "lambda_min" in rows:
            low = seed_band(rows, "lambda_min")
            ax.plot(low.index, low["median"], ":", color=color, lw=1)
    ax.set_yscale("log")
    if loglog:
        ax.set_xscale("log", base=2)
    ax.set_xlabel("residual blocks L" + (" (log scale)" if loglog else ""), fontsize=8)
    ax.set_ylabel("Hessian eigenvalue at init", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(
        "log y: an exponential is straight" if not loglog else "log-log: a power law is straight",
        fontsize=9,
    )


def lambda_depth_figure(summary: pd.DataFrame) -> plt.Figure:
    """A1/A2 from ``a1_a2_hessian_depth/summary.csv`` (completed runs). Top: every arm on one
    shared axis (median lambda_max, range over seeds as a band; dotted: median |lambda_min|),
    semi-log and log-log. Below: one panel per arm with every seed and the three laws fitted to
    every seed's point (sqrt reference, power law, exponential), each with its 95% band."""
    arms = [a for a in DEPTH_ARMS if (summary["arm"] == a).any()]
    arms += sorted(set(summary["arm"]) - set(arms))
    rows = 1 + (len(arms) + 1) // 2
    fig = plt.figure(figsize=(12, 3.9 * rows))
    grid = fig.add_gridspec(rows, 2)
    top = [fig.add_subplot(grid[0, i]) for i in range(2)]
    for ax, loglog in zip(top, (False, True), strict=True):
        overview_panel(ax, summary, loglog)
    handles, labels = top[0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], ls=":", color="0.3"))
    labels.append("|lambda_min| (median)")
    top[1].legend(handles, labels, fontsize=7, loc="upper left")
    for i, arm in enumerate(arms):
        law_panel(fig.add_subplot(grid[1 + i // 2, i % 2]), summary, arm)
    seeds = summary["seed"].nunique() if "seed" in summary else 1
    fig.suptitle(
        f"Hessian lambda_max at init vs depth ({seeds} seeds). Bands: range over seeds (colour); "
        "95% confidence band of each fitted law (grey); laws fitted in log y to every seed's point",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _first_seed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["seed"] == frame["seed"].min()] if "seed" in frame else frame


#: colour of cells and blocks that are zero up to round-off (outside the colour scale)
ZERO_COLOR = "0.85"


def _tensor_ticks(ax: plt.Axes, names: list[str], starts: list[float], ends: list[float]) -> None:
    """Ticks at each tensor's middle, labelled by its name, and thin lines at its bounds."""
    middles = [(a + b) / 2 for a, b in zip(starts, ends, strict=True)]
    ax.set_xticks(middles, names, rotation=90, fontsize=5)
    ax.set_yticks(middles, names, fontsize=5)
    for edge in ends[:-1]:
        ax.axhline(edge, color="w", lw=0.3)
        ax.axvline(edge, color="w", lw=0.3)


def _zero_image(ax: plt.Axes, grid: np.ndarray, zero: np.ndarray, norm, cmap: str, extent=None):
    """``grid`` on the shared ``norm``; zero entries drawn in :data:`ZERO_COLOR`."""
    ax.imshow(np.where(zero, 1.0, np.nan), cmap=ListedColormap([ZERO_COLOR]), vmin=0, vmax=1,
              interpolation="nearest", extent=extent)  # fmt: skip
    return ax.imshow(np.where(zero, np.nan, grid), norm=norm, cmap=cmap,
                     interpolation="nearest", extent=extent)  # fmt: skip


def hessian_heatmaps_figure(
    matrix: pd.DataFrame, blocks: pd.DataFrame, summary: pd.DataFrame | None = None
) -> plt.Figure:
    """A3 from ``a3_hessian_structure``'s ``hessian_matrix``, ``hessian_blocks`` and (for the
    zero-block fractions and the threshold) ``summary`` tables; the first seed of every arm.

    Top row: |H| max-pooled onto cells; bottom row: the largest |H| of each parameter-tensor
    block, axes labelled by tensor name. ONE logarithmic colour scale per row, shared by every
    arm; a cell or block that is zero up to round-off (block max <= threshold x max|H|, the
    run's ``zero`` column) is drawn grey, outside the scale."""
    arms = sorted(matrix["arm"].unique())
    # the last, narrow column holds each row's colour bar (a subplot: any tight_layout keeps it)
    fig, grid_axes = plt.subplots(
        2,
        len(arms) + 1,
        figsize=(4.4 * len(arms) + 0.8, 9.6),
        squeeze=False,
        width_ratios=[1.0] * len(arms) + [0.05],
    )
    axes, bars = grid_axes[:, :-1], grid_axes[:, -1]
    first_m = {arm: _first_seed(matrix[matrix["arm"] == arm]) for arm in arms}
    first_b = {arm: _first_seed(blocks[blocks["arm"] == arm]) for arm in arms}
    threshold = {}
    for arm in arms:
        b = first_b[arm]
        scale = float(b["abs_max"].max())
        if "rel_max" in b and b["zero"].any():
            threshold[arm] = float(b.loc[b["zero"], "rel_max"].max()) * scale
        else:
            threshold[arm] = 0.0
        if summary is not None and "zero_threshold" in summary:
            rows = summary[summary["arm"] == arm]
            if len(rows):
                threshold[arm] = float(_first_seed(rows)["zero_threshold"].iloc[0]) * scale

    def alive(values: np.ndarray, arm: str) -> np.ndarray:
        return values[values > threshold[arm]]

    cells = np.concatenate([alive(first_m[a]["abs_max"].to_numpy(), a) for a in arms])
    tensors = np.concatenate([alive(first_b[a]["abs_max"].to_numpy(), a) for a in arms])
    cell_norm = LogNorm(cells.min(), cells.max()) if cells.size else None
    block_norm = LogNorm(tensors.min(), tensors.max()) if tensors.size else None
    for col, arm in enumerate(arms):
        m, b = first_m[arm], first_b[arm]
        names = list(b[b["col_index"] == 0].sort_values("row_index", kind="stable")["row_param"])
        offsets = b[b["col_index"] == 0].sort_values("row_index", kind="stable")
        n = int(m["row1"].max())
        count = int(m["cell_row"].max()) + 1
        grid = np.zeros((count, count))
        grid[m["cell_row"], m["cell_col"]] = m["abs_max"]
        ax = axes[0, col]
        image = _zero_image(ax, grid, grid <= threshold[arm], cell_norm, "viridis",
                            extent=(0, n, n, 0))  # fmt: skip
        starts = offsets["row_offset"].to_list()
        ends = (offsets["row_offset"] + offsets["row_size"]).to_list()
        wide = [i for i, (a, e) in enumerate(zip(starts, ends, strict=True)) if e - a >= n / 40]
        _tensor_ticks(ax, [names[i] for i in wide], [starts[i] for i in wide],
                      [ends[i] for i in wide])  # fmt: skip
        frac = ""
        if summary is not None and (summary["arm"] == arm).any():
            rows = summary[summary["arm"] == arm].sort_values("seed", kind="stable")
            frac = "\nzero blocks per seed: " + ", ".join(
                f"{v:.2f}" for v in rows["zero_block_fraction"]
            )
        ax.set_title(f"{arm}: max |H| per cell ({n} params){frac}", fontsize=8)
        if col == 0:
            _colorbar_row(fig, image, bars[0], "max |H_ij| in the cell (shared scale)")
        ax = axes[1, col]
        t = int(b["row_index"].max()) + 1
        bgrid = np.zeros((t, t))
        bgrid[b["row_index"], b["col_index"]] = b["abs_max"]
        zero = np.zeros((t, t), dtype=bool)
        zero[b["row_index"], b["col_index"]] = b["zero"].astype(bool)
        image = _zero_image(ax, bgrid, zero, block_norm, "magma")
        _tensor_ticks(ax, names, [i - 0.5 for i in range(t)], [i + 0.5 for i in range(t)])
        ax.set_title(f"max |H| per parameter-tensor block ({int(zero.sum())}/{t * t} zero)",
                     fontsize=8)  # fmt: skip
        if col == 0:
            _colorbar_row(fig, image, bars[1], "max |H| in the block (shared scale)")
    eps = ""
    if summary is not None and "zero_threshold" in summary:
        low, high = summary["zero_threshold"].min(), summary["zero_threshold"].max()
        span = f"{low:.1e}" if low == high else f"{low:.1e} to {high:.1e}"
        eps = f" <= gamma_k x max|H|, gamma_k = {span}"
    fig.suptitle(
        "Dense Hessian at init (first seed of each arm), one colour scale per row; grey: zero up "
        f"to float64 round-off (max |H| of the cell or block{eps} of its arm)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _colorbar_row(fig: plt.Figure, image, cax: plt.Axes, label: str) -> None:
    bar = fig.colorbar(image, cax=cax)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)


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

"""Figures of the SNN paper's benchmark claims (E4, E6), from collected CSVs.

* :func:`mean_ranks_figure` (E4): mean rank per method across data sets, the FNN variants with
  the paper's Table 1 marked, and FNNs with the scikit-learn baselines;
* :func:`cd_diagram` (E4): critical-difference diagrams (Nemenyi) of the same mean ranks;
* :func:`cnn_accuracy_figure` (E6): test accuracy against the epoch per data set and activation
  (line: seed mean, band: min-max), the final mean +- std, the slides' numbers dashed.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from initlab.papers.snn.claims_benchmark import (
    FNN_METHODS,
    PAPER_TABLE1_MEAN_RANK,
    REFERENCE,
    label,
)
from initlab.papers.snn.claims_cnn import ACTIVATIONS, LABELS

DATA_LABELS = {
    "digits": "digits 8x8 (quick)",
    "mnist_subset": "MNIST subset (quick)",
    "mnist": "MNIST",
    "cifar10": "CIFAR-10",
}


def plus_minus(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} +- {std:.2f}"


def mean_ranks_figure(fnn: pd.Series, everything: pd.Series | None, n_sets: int) -> plt.Figure:
    """E4: mean rank per method (FNNs with the paper's Table 1 marks; FNNs and baselines)."""
    panels = [(f"{len(fnn)} FNN variants, {n_sets} data sets", fnn, PAPER_TABLE1_MEAN_RANK)]
    if everything is not None:
        panels.append((f"FNNs and baselines, {n_sets} data sets", everything, None))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (title, ranks, paper) in zip(axes[0], panels, strict=True):
        order = list(ranks.index)[::-1]  # best at the top
        colors = [
            "tab:red" if m == REFERENCE else "tab:blue" if m in FNN_METHODS else "tab:gray"
            for m in order
        ]
        ax.barh([label(m) for m in order], [ranks[m] for m in order], color=colors)
        if paper is not None:
            ax.plot(
                [paper.get(m, float("nan")) for m in order],
                [label(m) for m in order],
                "k|",
                markersize=14,
                label="paper, 121 sets",
            )
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
        ax.set_xlim(0, 1.3 * max(ranks.max(), max(paper.values()) if paper else 0))
        ax.set_xlabel("mean rank (1 = best)")
        ax.set_title(title, loc="left")
    return fig


def _recorded_scale(part: pd.DataFrame) -> str:
    """``\n4,000 train images, 30 epochs, 5 seeds`` from the table's records (or nothing)."""
    bits = []
    for column, unit in (("train_examples", "train images"), ("epochs", "epochs")):
        if column in part.columns and part[column].notna().any():
            bits.append(f"{int(part[column].max()):,} {unit}")
    if "runs" in part.columns and len(part):
        bits.append(f"{int(part['runs'].min())} seeds")
    return "\n" + ", ".join(bits) if bits else ""


def cnn_accuracy_figure(table: pd.DataFrame, curves: pd.DataFrame | None) -> plt.Figure:
    """E6: test accuracy per epoch and final mean +- std per activation, slides dashed."""
    data_sets = list(table["data"].unique())  # the loaders' order (digits, mnist_subset, ...)
    fig, axes = plt.subplots(1, len(data_sets), figsize=(5.5 * len(data_sets), 4.2), squeeze=False)
    for ax, data in zip(axes[0], data_sets, strict=True):
        part = table[table["data"] == data].set_index("activation")
        has_curves = curves is not None and "data" in curves.columns
        rows_of = curves[curves["data"] == data] if has_curves else pd.DataFrame()
        last_epoch = int(rows_of["epoch"].max()) if len(rows_of) else 0
        final_x = last_epoch * 1.03 + 0.5  # the final mean +- std just right of the curves
        for act in ACTIVATIONS:
            if act not in part.index:
                continue
            colour = "C0" if act == "selu" else "C1"
            rows = rows_of[rows_of["activation"] == act] if len(rows_of) else rows_of
            if len(rows):
                stats = (
                    (100 * rows["test_accuracy"]).groupby(rows["epoch"]).agg(["mean", "min", "max"])
                )
                epochs = stats.index.to_numpy()
                ax.plot(epochs, stats["mean"], color=colour, label=LABELS[act])
                ax.fill_between(epochs, stats["min"], stats["max"], color=colour, alpha=0.2)
            row = part.loc[act]
            ax.errorbar(
                [final_x],
                [row["mean"]],
                yerr=[0.0 if math.isnan(row["std"]) else row["std"]],
                fmt="o",
                color=colour,
                capsize=4,
                label=f"{LABELS[act]} final {plus_minus(row['mean'], row['std'])}",
            )
            if not math.isnan(row["paper_mean"]):
                ax.axhline(
                    row["paper_mean"],
                    color=colour,
                    ls="--",
                    lw=1,
                    label=f"slides {LABELS[act]} {row['paper_mean']:.1f}",
                )
        # zoom on the final accuracies and the slides' (early epochs may fall below the axis)
        levels = pd.concat([part["mean"], part["paper_mean"]]).dropna()
        ax.set_ylim(max(0.0, levels.min() - 3.0), min(100.5, levels.max() + 1.0))
        ax.set_xlabel("epoch" if last_epoch else "final (no learning curves collected)")
        if not last_epoch:
            ax.set_xticks([])
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(DATA_LABELS.get(data, data) + _recorded_scale(part))
        ax.legend(fontsize=7, loc="lower right")
    drawn = []  # the key names only what some panel draws
    if curves is not None and "data" in curves.columns and len(curves):
        drawn.append("line: seed mean, band: min-max")
    drawn.append("dot: final mean +- std")
    if table["paper_mean"].notna().any():
        drawn.append("dashed: slides")
    fig.suptitle(
        f"E6: CNNs, SELU + LeCun normal vs ReLU + He normal\n({'; '.join(drawn)})", fontsize=10
    )
    return fig


def nemenyi_groups(ranks: pd.Series, cd: float) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` (positions in ``ranks`` sorted best first) of at least two
    methods whose mean ranks lie within ``cd`` of each other: Nemenyi cannot tell them apart."""
    values = ranks.sort_values(kind="stable").to_numpy(dtype=float)
    runs = []
    for i in range(len(values)):
        j = i
        while j + 1 < len(values) and values[j + 1] - values[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return runs


def cd_diagram(panels: list[tuple[str, pd.Series, pd.DataFrame]]) -> plt.Figure:
    """E4: critical-difference diagrams (Demsar 2006), one per (title, mean ranks, comparisons
    with a ``cd`` column): each method at its mean rank (1 = best, left), thick bars join methods
    within Nemenyi's critical difference of each other, the CD drawn to scale above the axis;
    SNN in red, the other FNNs black, baselines grey."""
    heights = [1.4 + 0.32 * ((len(ranks) + 1) // 2) for _, ranks, _ in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(8.5, sum(heights)), squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )  # fmt: skip
    for ax, (title, ranks, comp) in zip(axes[:, 0], panels, strict=True):
        ordered = ranks.sort_values(kind="stable")
        k, cd = len(ordered), float(comp["cd"].iloc[0])
        half = (k + 1) // 2
        step = 0.32
        ax.hlines(0.0, 1.0, k, color="black", lw=1)
        for tick in range(1, k + 1):
            ax.vlines(tick, 0.0, 0.08, color="black", lw=1)
            ax.text(tick, 0.14, str(tick), ha="center", va="bottom", fontsize=8)
        ax.hlines(0.55, 1.0, 1.0 + cd, color="black", lw=1.5)
        ax.vlines([1.0, 1.0 + cd], 0.5, 0.6, color="black", lw=1.5)
        ax.text(1.0 + cd / 2, 0.63, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
        for i, (method, rank) in enumerate(ordered.items()):
            colour = (
                "tab:red"
                if method == REFERENCE
                else "black"
                if method in FNN_METHODS
                else "dimgray"
            )
            left = i < half
            row = i if left else k - 1 - i
            y = -step * (row + 1) - 0.25
            x_text = 0.6 if left else k + 0.4
            ax.plot([rank, rank, x_text], [0.0, y, y], color=colour, lw=0.8)
            ax.text(
                x_text - 0.05 if left else x_text + 0.05,
                y,
                f"{label(method)} {rank:.2f}",
                ha="right" if left else "left",
                va="center",
                fontsize=8,
                color=colour,
            )
        values = ordered.to_numpy(dtype=float)
        for n, (a, b) in enumerate(nemenyi_groups(ordered, cd)):
            y = -0.1 - 0.07 * n
            ax.hlines(y, values[a] - 0.03, values[b] + 0.03, color="tab:blue", lw=3)
        ax.set_xlim(-0.9, k + 1.9)
        ax.set_ylim(-step * (half + 1) - 0.25, 0.9)
        ax.axis("off")
        ax.set_title(title, loc="left", fontsize=9)
    fig.suptitle(
        "E4: mean ranks (1 = best); blue bars join methods within Nemenyi's critical "
        "difference (alpha 0.05); SNN red, baselines grey",
        fontsize=9,
    )
    return fig

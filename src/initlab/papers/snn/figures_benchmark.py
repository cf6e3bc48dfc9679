"""Figures of the SNN paper's benchmark claims (E4, E6), from collected CSVs.

* :func:`mean_ranks_figure` (E4): mean rank per method across data sets, the FNN variants with
  the paper's Table 1 marked, and FNNs with the scikit-learn baselines;
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

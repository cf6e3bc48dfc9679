"""Figures of B4 and B5 (class distances), from ``angles.csv`` / ``draws.csv`` of their
experiments:

* :func:`ratio_figure`: between/within class distance ratio vs layer (B4);
* :func:`trained_figure`: last-hidden-layer ratio at init vs after training, and accuracy (B5).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from initlab.papers.angles.claims_distance import ratio_curves
from initlab.papers.angles.figures import archs_of


def ratio_figure(angles: pd.DataFrame) -> plt.Figure:
    """B4 from ``b4_distance_ratio/angles.csv``: one panel per data set."""
    curves = ratio_curves(angles)
    sets = sorted(curves.data_name.unique())
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        part = curves[curves.data_name == name]
        for arch in archs_of(part):
            c = part[part.arch == arch].sort_values("layer", kind="stable")
            ax.plot(c.layer, c.ratio, label=arch)
        ax.set_title(f"{name}: between / within class distance", fontsize=9)
        ax.set_xlabel("layer (0 = input)")
        ax.set_ylabel("ratio")
        ax.legend(fontsize=7)
    return fig


def trained_figure(draws: pd.DataFrame) -> plt.Figure:
    """B5 from ``b5_trained_ratio/draws.csv``: mean +- sd over draws."""
    archs = archs_of(draws)
    stats = draws.groupby(["arch", "stage"]).agg(
        ratio=("ratio_last", "mean"),
        ratio_sd=("ratio_last", "std"),
        acc=("test_accuracy", "mean"),
        acc_sd=("test_accuracy", "std"),
    )
    x = np.arange(len(archs))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for k, stage in enumerate(("init", "trained")):
        rows = [stats.loc[(a, stage)] if (a, stage) in stats.index else None for a in archs]
        ratio = [r.ratio if r is not None else np.nan for r in rows]
        sd = [r.ratio_sd if r is not None else np.nan for r in rows]
        ax1.bar(x + (k - 0.5) * 0.4, ratio, 0.4, yerr=sd, label=stage)
        if stage == "trained":
            acc = [r.acc if r is not None else np.nan for r in rows]
            acc_sd = [r.acc_sd if r is not None else np.nan for r in rows]
            ax2.bar(x, acc, 0.5, yerr=acc_sd)
    ax1.set_xticks(x, archs)
    ax1.set_ylabel("between / within distance, last hidden layer")
    ax1.set_title("ratio before vs after training (mean +- sd over draws)", fontsize=9)
    ax1.legend(fontsize=8)
    ax2.set_xticks(x, archs)
    ax2.set_ylabel("test accuracy after training")
    ax2.set_ylim(0, 1)
    return fig

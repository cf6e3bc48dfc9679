"""Figures of claim A4 (the learning-rate sweep): accuracy against the learning rate, loss
curves per arm, each arm at its best learning rate."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from initlab.papers.fixup_hessian.figures import legend_outside
from initlab.report.common import ARM_COLORS


def accuracy_vs_lr_figure(summary: pd.DataFrame) -> plt.Figure:
    """A4: mean test accuracy of the completed runs per learning rate and arm from
    ``a4_lr_sweep/summary.csv``; a learning rate whose runs all diverged is an x in the strip
    below the axis (diverged), not a point at accuracy 0."""
    summary = summary.copy()
    summary["acc"] = summary.get("test_accuracy", np.nan)
    done = summary["status"] == "completed"
    fig, ax = plt.subplots(figsize=(7.5, 4))
    arms = sorted(summary["arm"].unique())
    strip = [-0.05 - 0.035 * i for i in range(len(arms))]  # one row of x per arm
    for i, arm in enumerate(arms):
        rows = summary[summary["arm"] == arm]
        color = ARM_COLORS.get(arm)
        lrs = sorted(rows["optim.lr"].unique())
        # NaN at a diverged learning rate breaks the line there
        curve = rows[done.loc[rows.index]].groupby("optim.lr")["acc"].mean().reindex(lrs)
        ax.plot(curve.index, curve.values, "o-", color=color, label=arm)
        failed = curve.index[curve.isna()]
        if len(failed):
            ax.scatter(failed, [strip[i]] * len(failed), marker="x", color=color, s=30)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.text(0.005, strip[0], "diverged", transform=ax.get_yaxis_transform(), fontsize=7)
    ax.set_ylim(strip[-1] - 0.04, 1.02)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy (completed runs)")
    ax.set_title("x below the axis: every run at that learning rate diverged", fontsize=9)
    legend_outside(fig, ax)
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

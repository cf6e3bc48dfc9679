"""Figures of claim A4 (the learning-rate sweep), from ``a4_lr_sweep/summary.csv`` and
``metrics.csv``:

* :func:`accuracy_vs_lr_figure`: test accuracy against the learning rate per arm (line: mean
  over the seeds whose run completed, band: their min..max), the usable threshold of the rule,
  the diverged runs as x in a strip below the axis with their count per learning rate; beside
  it, each seed's largest usable learning rate per arm (the rule's first sub-check);
* :func:`loss_curves_figure`: minibatch training loss against the step, one panel per arm, one
  colour per learning rate (mean over the seeds that completed, band min..max), each diverged
  run dashed with its last logged loss marked x;
* :func:`best_lr_loss_figure` (notebook): each arm at its best learning rate.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from initlab.papers.fixup_hessian.claims_sweep import (
    USABLE_SHARE,
    deepest,
    largest_usable,
    sweep_runs,
)
from initlab.report.common import ARM_COLORS

LR = "optim.lr"
#: top of the loss axes: a diverging run's losses beyond it are cut (its x is drawn at the top)
LOSS_TOP = 100.0
#: arms in the order the figures list them (others follow, sorted)
ARM_ORDER = ("resnet_fixup", "resnet_fixup_official", "resnet_he", "resnet_bn", "resnet_fixup_slr")


def arm_order(arms) -> list[str]:
    arms = set(arms)
    return [a for a in ARM_ORDER if a in arms] + sorted(arms - set(ARM_ORDER))


def accuracy_vs_lr_figure(summary: pd.DataFrame) -> plt.Figure:
    """Test accuracy vs learning rate (mean and min..max over completed seeds), diverged runs
    marked below the axis with their count, and each seed's largest usable learning rate."""
    summary, depth_note = deepest(summary)
    runs = sweep_runs(summary)
    arms = arm_order(runs["arm"].unique())
    seeds = runs["seed"].nunique()
    fig, (ax, right) = plt.subplots(
        1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [2.2, 1]}, sharex=True
    )
    strip = [-0.06 - 0.05 * i for i in range(len(arms))]  # one row of x per arm
    best = runs.loc[~runs["diverged"], "acc"].max()
    for i, arm in enumerate(arms):
        rows = runs[runs["arm"] == arm]
        color = ARM_COLORS.get(arm)
        lrs = sorted(rows[LR].unique())
        done = rows[~rows["diverged"]].groupby(LR)["acc"]
        mean = done.mean().reindex(lrs)
        ax.plot(mean.index, mean.to_numpy(), "o-", color=color, label=arm, ms=4)
        ax.fill_between(
            mean.index,
            done.min().reindex(lrs).to_numpy(),
            done.max().reindex(lrs).to_numpy(),
            color=color,
            alpha=0.2,
            lw=0,
        )
        diverged = rows[rows["diverged"]].groupby(LR).size()
        if len(diverged):
            ax.scatter(diverged.index, [strip[i]] * len(diverged), marker="x", color=color, s=30)
            for lr, n in diverged.items():
                ax.annotate(
                    f"{n}",
                    (lr, strip[i]),
                    xytext=(4, -3),
                    textcoords="offset points",
                    fontsize=6,
                    color=color,
                )
        # right panel: each seed's largest usable lr (0: none usable, drawn at the left edge)
        largest = largest_usable(runs, arm)
        jitter = np.linspace(-0.15, 0.15, max(len(largest), 1))[: len(largest)]
        shown = largest.where(largest > 0, min(lrs) / 3)
        right.scatter(shown.to_numpy(), i + jitter, color=color, s=25, zorder=3)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.axhline(USABLE_SHARE * best, color="0.4", lw=0.8, ls="--")
    ax.text(
        0.01,
        USABLE_SHARE * best + 0.01,
        f"usable: >= {USABLE_SHARE:g} x best accuracy",
        transform=ax.get_yaxis_transform(),
        fontsize=7,
        color="0.3",
    )
    ax.text(
        0.01,
        strip[0] + 0.015,
        "x: diverged (count of seeds)",
        transform=ax.get_yaxis_transform(),
        fontsize=7,
    )
    ax.set_ylim(strip[-1] - 0.04, 1.02)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy (completed runs)")
    title = f"line: mean over completed seeds, band: min..max ({seeds} seeds)"
    ax.set_title(title + (f"\n{depth_note}" if depth_note else ""), fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(arms))
    right.set_yticks(range(len(arms)), arms, fontsize=7)
    right.set_ylim(-0.6, len(arms) - 0.4)
    right.set_xlabel("learning rate")
    right.set_title("largest usable lr, one dot per seed\n(left edge: none usable)", fontsize=9)
    right.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def loss_curves_figure(metrics: pd.DataFrame) -> plt.Figure:
    """Minibatch training loss per arm and learning rate (mean over the seeds that completed,
    band min..max); each diverged run drawn alone, dashed, its last logged loss marked x
    (needs ``train_batch_loss``)."""
    metrics, depth_note = deepest(metrics[metrics["train_batch_loss"].notna()])
    arms = arm_order(metrics["arm"].unique())
    cols = min(len(arms), 2)
    nrows = int(np.ceil(len(arms) / cols))
    fig, axes = plt.subplots(
        nrows, cols, figsize=(5.2 * cols, 3.4 * nrows), sharey=True, sharex=True, squeeze=False
    )
    cmap = plt.get_cmap("viridis")
    lrs = sorted(metrics[LR].unique())
    for ax, arm in zip(axes.flat, arms):
        for i, lr in enumerate(lrs):
            rows = metrics[(metrics["arm"] == arm) & (metrics[LR] == lr)]
            if rows.empty:
                continue
            color = cmap(i / max(len(lrs) - 1, 1))
            diverged = rows["status"] == "diverged" if "status" in rows else rows["step"] < 0
            loss = rows[~diverged].groupby("step")["train_batch_loss"]
            if len(loss):  # the seeds that completed: mean and min..max
                mean = loss.mean()
                ax.plot(mean.index, mean.to_numpy(), color=color, label=f"lr {lr:g}", lw=1)
                ax.fill_between(
                    mean.index,
                    loss.min().to_numpy(),
                    loss.max().to_numpy(),
                    color=color,
                    alpha=0.15,
                    lw=0,
                )
            for _, run in rows[diverged].groupby("run", sort=True):  # each diverged run alone
                shown = run["train_batch_loss"].clip(upper=0.8 * LOSS_TOP)  # off-scale: at top
                ax.plot(run["step"], shown, color=color, lw=0.7, ls="--")
                ax.scatter(run["step"].iloc[-1], shown.iloc[-1], marker="x", color=color, s=30)
        ax.axhline(np.log(10), color="0.5", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(top=LOSS_TOP)
        ax.set_title(arm + (" (mixup loss)" if arm == "resnet_fixup_official" else ""), fontsize=9)
        ax.set_xlabel("step")
    for ax in axes.flat[len(arms) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("training loss (minibatch)")
    handles = [  # every learning rate, whether or not the first panel has a completed run
        Line2D([0], [0], color=cmap(i / max(len(lrs) - 1, 1)), label=f"lr {lr:g}")
        for i, lr in enumerate(lrs)
    ]
    title = (
        "solid: mean of completed\nseeds, band min..max;\ndashed, x: a diverged run\n"
        f"(> {LOSS_TOP:g}: at the top);\ndotted: log 10 (chance)"
    )
    fig.legend(handles=handles, fontsize=7, loc="center right", title=title, title_fontsize=8)
    if depth_note:
        fig.suptitle(depth_note, fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    return fig


def best_lr_loss_figure(accuracy: pd.DataFrame, metrics: pd.DataFrame) -> plt.Figure:
    """A4 (notebook): each arm's training loss (mean over seeds) at its best learning rate;
    ``accuracy`` is the mean test accuracy with learning rates as rows and arms as columns."""
    metrics = metrics[metrics["train_batch_loss"].notna()]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for arm in accuracy.columns:
        lr = accuracy[arm].idxmax()
        run = metrics[(metrics["arm"] == arm) & (metrics[LR] == lr)]
        loss = run.groupby("step")["train_batch_loss"].mean()
        ax.plot(loss.index, loss.to_numpy(), color=ARM_COLORS.get(arm), label=f"{arm}, lr {lr:g}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (minibatch)")
    ax.set_title("each arm at its best learning rate", fontsize=9)
    ax.legend(fontsize=8)
    return fig

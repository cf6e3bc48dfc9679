"""Figures of B4 and B5 (class distances), from ``angles.csv`` / ``draws.csv`` of their
experiments (completed runs):

* :func:`ratio_figure`: the between/within class distance ratio over its input value, vs layer
  (MLP) and vs block (ResNets) in separate panels, mean over draws with a 95% t band, y = 1 (the
  input's ratio) and the level where between = within drawn; and the profile's area per network
  with its interval (what B4's rule decides on);
* :func:`trained_figure`: the last-hidden-layer ratio at init and after training per network,
  and the trained ratio and test accuracy against the init angle (B5's association).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from initlab.analysis.laws import replicate_interval, t_quantile
from initlab.papers.angles.claims_distance import (
    EXPLODES,
    Association,
    network_names,
    networks_of,
    profile_areas,
    ratio_profiles,
)

#: the order networks are drawn in (others after them)
ARCH_ORDER = (
    "mlp",
    "resnet",
    "resnet_he_branch_scaled",
    "resnet_bn",
    "resnet_scale",
    "resnet_fixup",
)
NAMES = {
    "mlp": "MLP",
    "resnet": "ResNet (He)",
    "resnet_he_branch_scaled": "ResNet, branches x L^-1/2",
    "resnet_bn": "ResNet + BN",
    "resnet_scale": "ResNet + scale norm",
    "resnet_fixup": "ResNet, Fixup",
}


def _archs(frame: pd.DataFrame) -> list[str]:
    present = sorted(set(frame.arch))
    return [a for a in ARCH_ORDER if a in present] + [a for a in present if a not in ARCH_ORDER]


def _colors(archs: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {a: cmap(i % 10) for i, a in enumerate(archs)}


def _band(per: pd.DataFrame) -> pd.DataFrame:
    """Per layer: mean of r_l / r_0 over draws and its 95% t band (from the log ratio)."""
    stats = per.groupby("layer").log_rel.agg(["mean", "std", "count"])
    half = (
        stats["std"]
        / np.sqrt(stats["count"])
        * stats["count"].map(lambda n: t_quantile(max(n - 1, 1)))
    )
    return pd.DataFrame(
        {
            "mid": np.exp(stats["mean"]),
            "lo": np.exp(stats["mean"] - half.fillna(0)),
            "hi": np.exp(stats["mean"] + half.fillna(0)),
        }
    )


def ratio_figure(angles: pd.DataFrame) -> plt.Figure:
    """B4 from ``b4_distance_ratio/angles.csv``: one row per data set; columns: the MLP vs
    layer, the ResNets vs block (same y range), the profile areas with 95% t intervals."""
    per = ratio_profiles(angles)
    areas = profile_areas(angles)
    sets = sorted(per.data_name.unique())
    archs = _archs(per)
    colors = _colors(archs)
    draws = int(per.groupby(["data_name", "arch"]).draw.nunique().min())
    fig, axes = plt.subplots(
        len(sets),
        3,
        figsize=(15, 3.8 * len(sets)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1, 0.8]},
    )
    ylo, yhi = np.inf, -np.inf
    for row, name in zip(axes, sets, strict=True):
        part = per[(per.data_name == name) & (per.layer >= 1)]
        r0 = float(per[(per.data_name == name) & (per.layer == 0)].ratio.mean())
        for ax, group in zip(row[:2], (["mlp"], [a for a in archs if a != "mlp"]), strict=True):
            for arch in group:
                band = _band(part[part.arch == arch])
                if band.empty:
                    continue
                ax.plot(band.index, band.mid, color=colors[arch], label=NAMES.get(arch, arch))
                ax.fill_between(band.index, band.lo, band.hi, color=colors[arch], alpha=0.25)
                ylo, yhi = min(ylo, band.lo.min()), max(yhi, band.hi.max())
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.axhline(1.0 / r0, color="0.5", lw=0.8, ls=":")
            ylo, yhi = min(ylo, 1.0 / r0), max(yhi, 1.0 / r0)
            ax.set_xscale("log")
        row[0].set_xlabel("layer l")
        row[1].set_xlabel("block l")
        row[0].set_ylabel(f"{name}: ratio r_l / r_0\n(r_0 = {r0:.3g}, the input's)")
        row[0].set_title(f"{name}: MLP, mean over {draws} draws, 95% t band", fontsize=9)
        row[1].set_title(f"{name}: residual networks (same y range)", fontsize=9)
        # the areas, one row per network
        ax = row[2]
        sub = areas[areas.data_name == name]
        present = [a for a in archs if a in set(sub.arch)]
        for k, arch in enumerate(present):
            est = replicate_interval(sub[sub.arch == arch].area.to_numpy(float), what="draws")
            ax.errorbar(
                est.value,
                k,
                xerr=[[est.value - est.lo], [est.hi - est.value]],
                fmt="o",
                color=colors[arch],
                capsize=3,
            )
        ax.axvline(0.0, color="k", lw=0.8, ls="--")
        ax.set_yticks(range(len(present)), [NAMES.get(a, a) for a in present], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("area: mean over l = 1..L of log(r_l / r_0)")
        ax.set_title(f"{name}: area (the rule), 95% t over draws", fontsize=9)
    yhi = max(yhi, 1.0)
    pad = 0.05 * (yhi - ylo) if np.isfinite(ylo) else 0.0
    xlo = min(ax.get_xlim()[0] for ax in axes[:, 2])
    xhi = max(ax.get_xlim()[1] for ax in axes[:, 2])
    for row in axes:
        for ax in row[:2]:
            ax.set_ylim(ylo - pad, yhi + pad)
        row[2].set_xlim(xlo, xhi)  # the same area axis for every data set
        row[2].xaxis.set_major_locator(plt.MaxNLocator(5))
    handles = [plt.Line2D([], [], color=colors[a], label=NAMES.get(a, a)) for a in archs]
    handles += [
        plt.Line2D([], [], color="k", ls="--", lw=0.8, label="y = 1: the input's ratio"),
        plt.Line2D([], [], color="0.5", ls=":", lw=0.8, label="between = within (r = 1)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(
        "B4: between-class / within-class mean distance through depth at initialization",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    return fig


def trained_figure(draws: pd.DataFrame, table: pd.DataFrame | None = None) -> plt.Figure:
    """B5: (left) the last-hidden-layer ratio at init and after training per network, draws as
    dots; (middle, right) trained ratio and test accuracy against the init angle, mean +- s.d.
    over draws; hollow: a network left out of the test (forward variance exploding).
    ``table``: :func:`initlab.papers.angles.claims_distance.networks_of` (its ``growth`` marks
    the left-out networks; by default computed from ``draws`` alone: none marked)."""
    draws = draws.assign(network=network_names(draws))
    if table is None:
        table = networks_of(draws)
    names = list(table.index)
    # one hue per architecture, dark at the deepest depth, light at the others; circles deepest
    arms = sorted({str(n).split(" L=")[0] for n in names})
    deepest = table.depth.max()
    cmap = plt.get_cmap("tab20")
    colors, markers = {}, {}
    for name in names:
        deep = table.loc[name, "depth"] == deepest
        colors[name] = cmap((2 * arms.index(str(name).split(" L=")[0]) + (0 if deep else 1)) % 20)
        markers[name] = "o" if deep else "s"
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5))
    ax = axes[0]
    for k, name in enumerate(names):
        rows = draws[draws.network == name]
        for j, stage in enumerate(("init", "trained")):
            values = rows[rows.stage == stage].ratio_last.to_numpy(float)
            x = k + (j - 0.5) * 0.35
            ax.scatter(np.full(len(values), x), values, s=12, color=colors[name], alpha=0.6)
            ax.plot(
                [x - 0.12, x + 0.12],
                [values.mean()] * 2 if len(values) else [np.nan] * 2,
                color=colors[name],
                lw=2,
            )
        ax.annotate(
            "",
            xy=(k + 0.175, rows[rows.stage == "trained"].ratio_last.mean()),
            xytext=(k - 0.175, rows[rows.stage == "init"].ratio_last.mean()),
            arrowprops={"arrowstyle": "->", "color": colors[name], "lw": 0.8},
        )
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("between / within distance, last hidden layer")
    ax.set_title("init (left dots) -> trained (right dots), each draw a dot", fontsize=9)
    for ax, column, label in (
        (axes[1], "ratio_trained", "between / within distance after training"),
        (axes[2], "accuracy", "test accuracy after training"),
    ):
        for name, r in table.iterrows():
            left_out = r.growth > EXPLODES
            ax.errorbar(
                r.angle_init,
                r[column],
                yerr=r[f"{column}_sd"] if np.isfinite(r[f"{column}_sd"]) else None,
                fmt=markers[name],
                color=colors[name],
                mfc="none" if left_out else colors[name],
                capsize=3,
            )
        ax.set_xlabel("angle of data pairs at the last hidden layer at init (rad)")
        ax.set_ylabel(label)
    axes[1].set_ylim(axes[0].get_ylim())  # the same ratio axis as the left panel
    bounded = table[~(table.growth > EXPLODES)]
    rho = {c: Association.of(bounded.angle_init, bounded[c]) for c in ("ratio_trained", "accuracy")}
    for ax, column, what in (
        (axes[1], "ratio_trained", "trained ratio"),
        (axes[2], "accuracy", "test accuracy"),
    ):
        r = rho[column]
        ax.set_title(
            f"{what} vs init angle (mean +- s.d. over draws)\nSpearman over filled: rho "
            f"{r.rho:.2f}, p {r.p:.2g}, {r.n} nets; hollow: variance explodes",
            fontsize=9,
        )
    axes[2].set_ylim(0, 1)
    handles = [
        plt.Line2D([], [], color=colors[n], marker=markers[n], ls="", label=n) for n in names
    ]
    fig.suptitle("B5: the last hidden layer before and after training", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.88, 0.96))
    fig.legend(
        handles=handles, loc="center left", bbox_to_anchor=(0.885, 0.5), fontsize=8, frameon=False
    )
    return fig

"""Figures of paper B (angles between inputs through depth) and C1, from ``angles.csv`` /
``draws.csv`` of the B experiments (completed runs, as
:func:`initlab.papers.angles.claims.read_table` gives them).

* :func:`layer_figure`: angle or 1 - cosine vs layer per network and pair set, log-log (top) and
  log-linear (bottom), mean-field theory dashed where a closed form exists (none for true
  BatchNorm: measurement only, said in the panel);
* :func:`arch_figure`: the networks in one panel per pair set (most / least different, data);
* :func:`ratio_figure`: between/within class distance ratio vs layer (B4);
* :func:`trained_figure`: last-hidden-layer ratio at init vs after training, and accuracy (B5).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from initlab.papers.angles.claims import pair_curves, ratio_curves

ARCH_ORDER = ("mlp", "resnet", "resnet_bn", "resnet_fixup", "snn_lecun")
#: (y label, column, theory column or None for 1 - theory_cos, file name) of :func:`layer_figure`
QUANTITIES = {
    "angle": ("angle (rad)", "angle_mean", "theory_angle", "angle_vs_layer.png"),
    "cosine": ("1 - cosine", "one_minus_cos_mean", None, "cosine_vs_layer.png"),
}


def archs_of(frame: pd.DataFrame) -> list[str]:
    """The networks in ``frame``: the known ones in :data:`ARCH_ORDER`, then the others."""
    present = list(dict.fromkeys(frame.arch))
    return [a for a in ARCH_ORDER if a in present] + [a for a in present if a not in ARCH_ORDER]


def layer_figure(angles: pd.DataFrame, quantity: str) -> plt.Figure:
    """B1-B3, one column per network; ``quantity`` is a key of :data:`QUANTITIES`."""
    label, column, theory, _ = QUANTITIES[quantity]
    archs = archs_of(angles)
    fig, axes = plt.subplots(2, len(archs), figsize=(4 * len(archs), 7), squeeze=False)
    for j, arch in enumerate(archs):
        curves = pair_curves(angles, arch)
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(curves)))
        has_theory = False
        for color, (name, curve) in zip(colors, curves.items(), strict=True):
            part = curve[curve.index >= 1]
            y = part[column].clip(lower=1e-12)
            th = part[theory] if theory else 1.0 - part.theory_cos
            for ax in axes[:, j]:
                ax.plot(part.index, y, color=color, label=name)
                if th.notna().all():
                    has_theory = True
                    ax.plot(part.index, th.clip(lower=1e-12), "--", color=color, lw=1)
        note = "theory dashed" if has_theory else "measurement only (no closed form)"
        axes[0, j].set_title(f"{arch}: {note}", fontsize=9)
        axes[0, j].set_xscale("log")
        axes[0, j].set_yscale("log")
        axes[1, j].set_yscale("log")
        axes[1, j].set_xlabel("layer")
        axes[0, j].set_ylabel(f"{label} (log-log)")
        axes[1, j].set_ylabel(f"{label} (log-linear)")
    axes[0, 0].legend(fontsize=7)
    return fig


def arch_figure(angles: pd.DataFrame) -> plt.Figure:
    """All networks in one panel: most / least different synthetic pairs, data pairs."""
    archs = archs_of(angles)
    first = {a: pair_curves(angles, a) for a in archs}
    synthetic = [n for n in first[archs[0]] if n != "data"]
    names = list(dict.fromkeys([synthetic[0], synthetic[-1], "data"]))
    fig, axes = plt.subplots(2, len(names), figsize=(5 * len(names), 8), squeeze=False)
    for j, name in enumerate(names):
        for arch in archs:
            curve = first[arch].get(name)
            if curve is None:
                continue
            part = curve[curve.index >= 1]
            for ax in axes[:, j]:
                (line,) = ax.plot(part.index, part.angle_mean, label=arch)
                if part.theory_angle.notna().all():
                    ax.plot(part.index, part.theory_angle, "--", color=line.get_color(), lw=1)
        axes[0, j].set_xscale("log")
        axes[0, j].set_title(f"pairs {name}; theory dashed (none for BatchNorm)", fontsize=9)
        for ax, axis in zip(axes[:, j], ("log-log", "log-linear"), strict=True):
            ax.set_yscale("log")
            ax.set_ylabel(f"angle (rad), {axis}")
        axes[1, j].set_xlabel("layer / block")
    axes[0, 0].legend(fontsize=8)
    return fig


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

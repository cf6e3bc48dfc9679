"""Figures of paper B (angles between inputs through depth) and C1, from ``angles.csv`` /
``draws.csv`` of the B experiments (completed runs, as
:func:`initlab.papers.angles.claims.read_table` gives them).

* :func:`layer_figure`: angle or 1 - cosine vs layer per network and pair set, log-log (top) and
  log-linear (bottom), mean-field theory dashed where a closed form exists (none for true
  BatchNorm: measurement only, said in the panel);
* :func:`arch_figure`: the networks in one panel per pair set (most / least different, data).

B4 and B5's figures: :mod:`initlab.papers.angles.figures_distance`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from initlab.papers.angles.claims import pair_curves

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

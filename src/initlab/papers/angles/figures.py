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

from initlab.analysis.laws import t_quantile
from initlab.papers.angles.claims import pair_curves

ARCH_ORDER = ("mlp", "resnet", "resnet_bn", "resnet_fixup", "snn_lecun")
#: the order of B1-B3's panels: the two normalized ResNets side by side
ANGLE_ORDER = ("mlp", "resnet", "resnet_bn", "resnet_scale", "resnet_fixup")
#: (y label, column, theory column or None for 1 - theory_cos, file name) of :func:`layer_figure`
QUANTITIES = {
    "angle": ("angle (rad)", "angle_mean", "theory_angle", "angle_vs_layer.png"),
    "cosine": ("1 - cosine", "one_minus_cos_mean", None, "cosine_vs_layer.png"),
}
#: what the x axis counts, per network: an MLP's layers, a ResNet's residual blocks
TITLES = {
    "mlp": "ReLU MLP (He)",
    "resnet": "ResNet (He, no norm)",
    "resnet_bn": "ResNet + BatchNorm (batch stats)",
    "resnet_scale": "ResNet + per-example scale norm",
    "resnet_fixup": "ResNet, Fixup",
}
#: the limit of l * angle_l where theory gives one: 3 pi (MLP), 9 pi / 2 (He ResNet, gamma = 2)
L_THETA_LIMIT = {"mlp": 3 * np.pi, "resnet": 4.5 * np.pi}
BAND = "band: 95% t interval over draws"


def archs_of(frame: pd.DataFrame, order: tuple[str, ...] = ARCH_ORDER) -> list[str]:
    """The networks in ``frame``: the known ones in ``order``, then the others."""
    present = list(dict.fromkeys(frame.arch))
    return [a for a in order if a in present] + [a for a in present if a not in order]


def x_label(arch: str) -> str:
    return "layer l" if arch.startswith(("mlp", "snn")) else "residual block l"


def band(by_draw: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per layer >= 1: mean, lo, hi of ``column`` over draws (95% t interval of the mean)."""
    rows = by_draw[by_draw.index.get_level_values("layer") >= 1][column].unstack("draw")
    n = rows.shape[1]
    mean = rows.mean(axis=1)
    if n < 2:
        return pd.DataFrame({"mean": mean, "lo": mean, "hi": mean})
    half = t_quantile(n - 1) * rows.std(axis=1, ddof=1) / np.sqrt(n)
    return pd.DataFrame({"mean": mean, "lo": mean - half, "hi": mean + half})


def _draw_curves(ax, angles, arch, column, theory, scale_by_layer=False, names=None):
    """Mean curve + band per pair set, theory dashed; returns the handles for a legend."""
    curves = pair_curves(angles, arch)
    by_draw = pair_curves(angles, arch, by_draw=True)
    names = [n for n in (names or curves) if n in curves]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(curves)))
    color_of = dict(zip(curves, colors, strict=True))
    handles = []
    for name in names:
        curve = curves[name]
        part = curve[curve.index >= 1]
        stats = band(by_draw[name], column)
        k = stats.index.to_numpy(float)
        factor = k if scale_by_layer else 1.0
        color = color_of[name]
        (line,) = ax.plot(k, stats["mean"] * factor, color=color, lw=1.4, label=name)
        ax.fill_between(k, stats.lo * factor, stats.hi * factor, color=color, alpha=0.25, lw=0)
        th = part[theory] if theory else 1.0 - part.theory_cos
        if th.notna().all():
            ax.plot(
                part.index,
                th * (part.index.to_numpy(float) if scale_by_layer else 1.0),
                "--",
                color=color,
                lw=1.0,
            )
        handles.append(line)
    return handles


def _references(ax, k_max: float, y_at_10: float, y_min: float) -> list:
    """Reference slopes from (10, y_at_10): 1/l, and exp(-l/20) drawn down to ``y_min`` only
    (an exponential leaves any shared log range within a few hundred layers)."""
    k = np.geomspace(10, k_max, 60)
    (power,) = ax.plot(k, y_at_10 * 10 / k, ":", color="black", lw=1.0, label="reference 1/l")
    y_exp = y_at_10 * np.exp(-(k - 10) / 20)
    keep = y_exp >= y_min
    (exp,) = ax.plot(
        k[keep], y_exp[keep], ":", color="tab:red", lw=1.0, label="reference exp(-l/20)"
    )
    return [power, exp]


def _theory_note(angles: pd.DataFrame, arch: str) -> str:
    rows = angles[angles.arch == arch]
    if "theory" in rows and rows.theory.notna().any():
        return str(rows.theory.dropna().iloc[0])
    has = rows.theory_angle.notna().any() if "theory_angle" in rows else False
    return "theory dashed" if has else "no theory (measured only)"


def layer_figure(angles: pd.DataFrame, quantity: str) -> plt.Figure:
    """B1-B3: one column per network. Angle: top log-log angle vs layer/block with bands over
    draws, theory dashed and reference slopes (1/l, exponential); bottom l * angle_l (log y)
    with its limit where theory gives one (the 1/l tail is a flat line there). Cosine: 1 - cos,
    log-log. Rows share their y range; the legend is below the panels."""
    label, column, theory, _ = QUANTITIES[quantity]
    archs = archs_of(angles, ANGLE_ORDER)
    rows = 2 if quantity == "angle" else 1
    fig, axes = plt.subplots(
        rows,
        len(archs),
        figsize=(3.6 * len(archs), 3.4 * rows + 1.0),
        squeeze=False,
        sharey="row",
    )
    handles, refs = [], []
    values = angles[angles.layer >= 1][column]
    y_min = float(values[values > 0].min()) / 2 if (values > 0).any() else 1e-3
    for j, arch in enumerate(archs):
        ax = axes[0, j]
        got = _draw_curves(ax, angles, arch, column, theory)
        handles = handles or got
        ax.set_xscale("log")
        ax.set_yscale("log")
        depth = float(angles[angles.arch == arch].layer.max())
        if quantity == "angle":
            refs = _references(ax, depth, 2.0, y_min)
        ax.set_title(f"{TITLES.get(arch, arch)}\n{_theory_note(angles, arch)}", fontsize=8)
        ax.set_xlabel(x_label(arch))
        if quantity == "angle":
            low = axes[1, j]
            _draw_curves(low, angles, arch, column, theory, scale_by_layer=True)
            if arch in L_THETA_LIMIT:
                low.axhline(L_THETA_LIMIT[arch], color="black", lw=0.8, ls="-.")
                low.annotate(
                    "limit " + ("3 pi" if arch == "mlp" else "9 pi / 2"),
                    (1.5, L_THETA_LIMIT[arch] * 1.12),
                    fontsize=7,
                )
            low.set_xscale("log")
            low.set_yscale("log")
            low.set_xlabel(x_label(arch))
    axes[0, 0].set_ylabel(f"{label} (log-log)")
    if quantity == "angle":
        axes[1, 0].set_ylabel("l x angle_l (rad)")
    dashed = plt.Line2D([], [], ls="--", color="grey", label="mean-field theory")
    fig.legend(
        handles=[*handles, dashed, *refs],
        loc="lower center",
        ncol=5,
        fontsize=8,
        frameon=False,
        title=f"pair sets (initial cosine / MNIST pairs); {BAND}",
        title_fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.95 / fig.get_figheight(), 1, 1))  # the legend's 0.95 inch
    return fig


def arch_figure(angles: pd.DataFrame) -> plt.Figure:
    """B2, B3, C1: per pair set (most / least different synthetic, MNIST pairs), the MLP against
    its layers (top) and the ResNets against their blocks (bottom), never on one axis; every
    panel shares one log y range and x range. Bands over draws, theory dashed, 1/l reference."""
    archs = archs_of(angles, ANGLE_ORDER)
    first = {a: pair_curves(angles, a) for a in archs}
    by_draw = {a: pair_curves(angles, a, by_draw=True) for a in archs}
    synthetic = [n for n in first[archs[0]] if n != "data"]
    names = list(dict.fromkeys([synthetic[0], synthetic[-1], "data"]))
    groups = [[a for a in archs if a.startswith("mlp")], [a for a in archs if a.startswith("res")]]
    groups = [g for g in groups if g]
    fig, axes = plt.subplots(
        len(groups),
        len(names),
        figsize=(4.6 * len(names), 3.6 * len(groups) + 0.8),
        squeeze=False,
        sharey=True,
        sharex=True,
    )
    colors = dict(zip(archs, plt.cm.tab10(np.arange(len(archs))), strict=True))
    lines = {}
    for i, group in enumerate(groups):
        for j, name in enumerate(names):
            ax = axes[i, j]
            for arch in group:
                curve = first[arch].get(name)
                if curve is None:
                    continue
                part = curve[curve.index >= 1]
                stats = band(by_draw[arch][name], "angle_mean")
                k = stats.index.to_numpy(float)
                (line,) = ax.plot(
                    k, stats["mean"], color=colors[arch], lw=1.4, label=TITLES.get(arch, arch)
                )
                ax.fill_between(k, stats.lo, stats.hi, color=colors[arch], alpha=0.25, lw=0)
                if part.theory_angle.notna().all():
                    ax.plot(part.index, part.theory_angle, "--", color=colors[arch], lw=1.0)
                lines[arch] = line
            k = np.geomspace(10, float(angles.layer.max()), 50)
            (ref,) = ax.plot(k, 10 / k, ":", color="black", lw=1.0, label="reference 1/l")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(x_label(group[0]))
            ax.set_title(f"pairs {name}", fontsize=9)
        axes[i, 0].set_ylabel("angle (rad)")
    dashed = plt.Line2D([], [], ls="--", color="grey", label="mean-field theory")
    fig.legend(
        handles=[*lines.values(), dashed, ref],
        loc="lower center",
        ncol=4,
        fontsize=8,
        frameon=False,
        title=BAND,
        title_fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.85 / fig.get_figheight(), 1, 1))  # the legend's 0.85 inch
    return fig

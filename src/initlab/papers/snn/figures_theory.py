"""Figures of the SNN paper's theory claims (E1-E3).

* :func:`vector_field_figure` (E1, E2): the map g's steps (mu, nu) -> g(mu, nu) at omega = 0,
  tau = 1, with the fixed point (0, 1) marked;
* :func:`activation_stats_figure` (E3): mean and variance of pre- and post-activations against
  the layer, per network (line: mean over seeds, band: min-max);
* :func:`activation_band_figure` (E3, notebook): post-activation mean and variance per network
  with the claim's tolerance band shaded.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from initlab.papers.snn.claims_theory import E3_MEAN_TOL, E3_VAR_TOL, with_net
from initlab.report.common import completed_runs

#: resolution the report saves these figures at (with a tight bounding box)
DPI = 150


def vector_field_figure(field: pd.DataFrame) -> plt.Figure:
    """E1/E2 from ``e1_e2_selu_theory/selu_vector_field.csv`` (its first run)."""
    frame = field
    if "run" in frame.columns:
        frame = frame[frame["run"] == frame["run"].iloc[0]]
    mu_values, nu_values = np.unique(frame["mu"]), np.unique(frame["nu"])
    grid = frame.sort_values(["nu", "mu"], kind="stable")
    shape = (len(nu_values), len(mu_values))
    mu, nu = grid["mu"].to_numpy().reshape(shape), grid["nu"].to_numpy().reshape(shape)
    dmu, dnu = grid["dmu"].to_numpy().reshape(shape), grid["dnu"].to_numpy().reshape(shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    speed = np.hypot(dmu, dnu)
    # arrows at half length (g's steps are long far from the fixed point); colour = full length
    quiver = ax.quiver(
        mu, nu, dmu, dnu, speed, angles="xy", scale_units="xy", scale=2.0, cmap="viridis"
    )
    fig.colorbar(quiver, ax=ax, label=r"step length $\|g(\mu,\nu) - (\mu,\nu)\|$")
    ax.plot([0.0], [1.0], "r*", markersize=12, label="fixed point (0, 1)")
    ax.set_xlabel(r"$\mu$ (mean of the layer's inputs)")
    ax.set_ylabel(r"$\nu$ (variance)")
    ax.set_title(r"SELU map $g$: arrows $(g(\mu,\nu) - (\mu,\nu))/2$, $\omega=0$, $\tau=1$")
    ax.legend(loc="upper right")
    return fig


def activation_stats_figure(activations: pd.DataFrame) -> plt.Figure:
    """E3 from ``e3_activation_stats/activations.csv`` (completed runs; the deepest per net)."""
    frame = with_net(completed_runs(activations))
    net_key = "e3_net" if "e3_net" in frame.columns else "run"
    depth_key = "model.depth" if "model.depth" in frame.columns else None
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for col, kind in enumerate(("pre", "post")):
        part = frame[frame["kind"] == kind]
        if depth_key is not None:  # one curve per network: the deepest runs
            part = part[part[depth_key] == part[depth_key].max()]
        for net, rows in part.groupby(net_key):
            stats = rows.groupby("layer")[["mean", "var"]].agg(["mean", "min", "max"])
            layers = stats.index.to_numpy()
            for row, what in enumerate(("mean", "var")):
                ax = axes[row, col]
                (line,) = ax.plot(layers, stats[(what, "mean")], label=str(net))
                ax.fill_between(
                    layers,
                    stats[(what, "min")],
                    stats[(what, "max")],
                    color=line.get_color(),
                    alpha=0.2,
                )
        axes[0, col].axhline(0.0, color="k", lw=0.5)
        axes[1, col].axhline(1.0, color="k", lw=0.5)
        axes[1, col].set_yscale("log")
        axes[0, col].set_title(f"{kind}-activations: mean")
        axes[1, col].set_title(f"{kind}-activations: variance")
        axes[1, col].set_xlabel("layer")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Activations through depth at initialization (line: seed mean, band: min-max)")
    return fig


def activation_band_figure(activations: pd.DataFrame) -> plt.Figure:
    """E3: post-activation mean / variance per ``e3_net`` (mean over seeds) against the layer,
    with the band the claim's rule allows (E3_MEAN_TOL, E3_VAR_TOL) shaded."""
    post = with_net(activations[activations["kind"] == "post"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for net, rows in post.groupby("e3_net"):
        curve = rows.groupby("layer")[["mean", "var"]].mean()
        axes[0].plot(curve.index, curve["mean"], label=str(net))
        axes[1].plot(curve.index, curve["var"], label=str(net))
    axes[0].axhspan(-E3_MEAN_TOL, E3_MEAN_TOL, color="grey", alpha=0.15)
    axes[1].axhspan(1 - E3_VAR_TOL, 1 + E3_VAR_TOL, color="grey", alpha=0.15)
    axes[1].set_yscale("log")
    axes[0].set_ylabel("post-activation mean")
    axes[1].set_ylabel("post-activation variance")
    for ax in axes:
        ax.set_xlabel("layer")
    axes[0].legend(fontsize=8)
    return fig

"""Figures of the SNN paper's theory claims (E1-E3).

* :func:`vector_field_figure` (E1, E2): the map g's steps (mu, nu) -> g(mu, nu) at omega = 0,
  tau = 1, with the fixed point (0, 1) marked;
* :func:`activation_stats_figure` (E3): mean and variance of pre- and post-activations against
  the layer, per network (line: mean over seeds, band: min-max);
* :func:`attraction_figure` (E3): the SNNs' post-activation mean and variance against the layer
  from each start (input moments), seeds as bands, the map g iterated from the same starts
  dashed, the rule's band around (0, 1) shaded;
* :func:`activation_band_figure` (E3, notebook): post-activation mean and variance per network
  with the claim's tolerance band shaded.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
import pandas as pd

from initlab.papers.snn.claims_theory import (
    E3_FIXED_POINT,
    E3_MEAN_TOL,
    E3_VAR_TOL,
    SNN_NETS,
    e3_band,
    with_net,
    with_start,
)
from initlab.report.common import completed_runs
from initlab.theory.selu import moment_trajectory

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
    """E3 from ``e3_activation_stats/activations.csv`` (completed runs started at the fixed point
    (0, 1); the deepest per net)."""
    frame = with_start(with_net(completed_runs(activations)))
    frame = frame[
        (frame["start_mean"] == E3_FIXED_POINT[0]) & (frame["start_var"] == E3_FIXED_POINT[1])
    ]
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
        axes[1, col].set_xscale("log")  # the runs keep log-spaced layers (task.record_layers)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(
        "Activations through depth at initialization, inputs at (0, 1) "
        "(line: seed mean, band: min-max)"
    )
    return fig


def attraction_figure(activations: pd.DataFrame) -> plt.Figure:
    """E3's attraction: SNN post-activation mean / variance against the layer from each start.

    Columns: the SNN without and with alpha-dropout; rows: mean, variance. Per start (input mean,
    variance): line = mean over seeds, band = min-max over seeds; dashed: the paper's map g at
    omega = 0, tau = 1 iterated from the start (layer 1 sees the inputs); dotted: g for i.i.d.
    LeCun weights (a unit's weight sum omega_j ~ N(0, 1), so nu -> nu + mu^2). Both maps ignore
    dropout. Shaded: the rule's band (:func:`e3_band` of the layer width).
    """
    frame = with_start(with_net(completed_runs(activations)))
    post = frame[(frame["kind"] == "post") & frame["e3_net"].isin(SNN_NETS)]
    starts = sorted({(float(m), float(v)) for m, v in zip(post["start_mean"], post["start_var"])})
    depth = int(post["layer"].max()) if len(post) else 1
    tol = e3_band(int(post["units"].min())) if "units" in post.columns and len(post) else None
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(2, len(SNN_NETS), figsize=(12, 7), sharex=True, sharey="row")
    layers = np.arange(1, depth + 1)
    handles = []
    for i, (m0, v0) in enumerate(starts):
        colour = colours(i % 10)
        paper = moment_trajectory(m0, v0, depth)
        iid = moment_trajectory(m0, v0, depth, random_weights=True)
        for col, net in enumerate(SNN_NETS):
            rows = post[(post["e3_net"] == net) & (post["start_mean"] == m0)]
            rows = rows[rows["start_var"] == v0]
            for row, what in enumerate(("mean", "var")):
                ax = axes[row, col]
                ax.plot(layers, paper[row], color=colour, ls="--", lw=1.0)
                ax.plot(layers, iid[row], color=colour, ls=":", lw=1.2)
                if rows.empty:
                    continue
                stats = rows.groupby("layer")[what].agg(["mean", "min", "max"])
                (line,) = ax.plot(stats.index, stats["mean"], color=colour, lw=1.4)
                ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.2)
                if row == 0 and col == 0:
                    line.set_label(f"start ({m0:g}, {v0:g})")
                    handles.append(line)
    for col, net in enumerate(SNN_NETS):
        if tol is not None:
            axes[0, col].axhspan(-tol[0], tol[0], color="grey", alpha=0.2, lw=0)
            axes[1, col].axhspan(1 - tol[1], 1 + tol[1], color="grey", alpha=0.2, lw=0)
        axes[0, col].set_title(f"{net}: post-activation mean")
        axes[1, col].set_title(f"{net}: post-activation variance")
        axes[1, col].set_xlabel("layer")
        axes[1, col].set_xscale("log")
        axes[1, col].set_yscale("log")
        axes[1, col].yaxis.set_major_formatter(ticker.ScalarFormatter())
        axes[1, col].yaxis.set_minor_formatter(ticker.NullFormatter())
        axes[1, col].set_yticks([0.25, 0.5, 1.0, 2.0, 4.0])
    (paper_line,) = axes[0, 0].plot([], [], color="k", ls="--", lw=1.0, label="g, omega=0, tau=1")
    (iid_line,) = axes[0, 0].plot([], [], color="k", ls=":", lw=1.2, label="g, i.i.d. LeCun rows")
    extra = [paper_line, iid_line]
    if tol is not None:
        band = plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.2)
        band.set_label(f"rule's band: +-{tol[0]:.3f} / 1+-{tol[1]:.3f}")
        extra.append(band)
    fig.legend(handles=[*handles, *extra], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(
        "E3: SNNs from off the fixed point (line: seed mean, band: min-max; theory ignores dropout)"
    )
    fig.tight_layout()
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

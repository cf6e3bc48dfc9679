"""Figures of the SNN theory claims from the collected CSVs (never trains).

    python scripts/plot_selu.py results/quick

Writes, next to the CSVs they come from:
- ``e1_e2_selu_theory/selu_vector_field.png`` (+ .pdf): the map g's steps (mu, nu) -> g(mu, nu)
  at omega = 0, tau = 1, with the fixed point (0, 1) marked;
- ``e3_activation_stats/activation_stats.png`` (+ .pdf): mean and variance of pre- and
  post-activations against the layer, per network (line: mean over seeds, band: min-max).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from initlab.report.figures import save_figure  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> None:
    save_figure(fig, path, dpi=150, tight_bbox=True)


def plot_vector_field(exp_dir: Path) -> None:
    frame = pd.read_csv(exp_dir / "selu_vector_field.csv")
    if "run" in frame.columns:
        frame = frame[frame["run"] == frame["run"].iloc[0]]
    mu_values, nu_values = np.unique(frame["mu"]), np.unique(frame["nu"])
    grid = frame.sort_values(["nu", "mu"])
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
    _save(fig, exp_dir / "selu_vector_field")


def plot_activation_stats(exp_dir: Path) -> None:
    frame = pd.read_csv(exp_dir / "activations.csv")
    if "status" in frame.columns:
        frame = frame[frame["status"] == "completed"]
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
    _save(fig, exp_dir / "activation_stats")


def main(results: Path) -> int:
    plots = (
        ("e1_e2_selu_theory", "selu_vector_field.csv", plot_vector_field),
        ("e3_activation_stats", "activations.csv", plot_activation_stats),
    )
    for exp, table, plot in plots:
        if (results / exp / table).exists():
            plot(results / exp)
        else:
            print(f"skipped {exp}: {results / exp / table} not found")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/quick")))

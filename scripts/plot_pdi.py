"""Figures of the PDI paper's claims from collected CSVs (never trains).

    python scripts/plot_pdi.py results/quick

D1: ``d1_pdi_weight_variance/weight_variance.png``: Var(W) / (2 / fan_in) of every layer through
the PDI stages, one line per base initializer (median over seeds); 1 is He's variance.
D2: ``d2_pdi_vae/vae_curves.png``: training loss of every arm (mean and range over seeds)
against optimizer steps in total (PDI's curve starts after its stages), and the final test L1 per
arm next to the paper's Table 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from initlab.claims.pdi import (  # noqa: E402
    D1_CLOSE_TOL,
    D1_EXP,
    D2_EXP,
    PAPER_L1_HE,
    PAPER_L1_PDI,
    arm_of,
)
from initlab.report.figures import save_figure  # noqa: E402


def plot_d1(results: Path) -> None:
    path = results / D1_EXP / "weight_variance.csv"
    if not path.exists():
        return
    table = pd.read_csv(path)
    if "status" in table:
        table = table[table["status"] == "completed"]
    table["ratio"] = table["variance"] / table["he_variance"]
    # one step axis across stages: a stage's steps follow the previous stage's last step
    offsets = table.groupby("stage")["step"].max().cumsum().shift(fill_value=0)
    table["global_step"] = table["step"] + table["stage"].map(offsets)
    layers = list(dict.fromkeys(table["layer"]))
    fig, axes = plt.subplots(1, len(layers), figsize=(3.6 * len(layers), 3.2), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        part = table[table["layer"] == layer]
        for base, rows in part.groupby("base"):
            curve = rows.groupby("global_step")["ratio"].median()
            ax.plot(curve.index, curve.to_numpy(), label=str(base))
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.axhspan(1 - D1_CLOSE_TOL, 1 + D1_CLOSE_TOL, color="grey", alpha=0.15)
        ax.set_title(f"{layer} (fan_in {int(part['fan_in'].iloc[0])})", fontsize=9)
        ax.set_xlabel("PDI step")
        ax.set_yscale("log")
    axes[0][0].set_ylabel("Var(W) / (2 / fan_in)")
    axes[0][0].legend(title="base init", fontsize=8)
    save_figure(fig, results / D1_EXP / "weight_variance.png")


def plot_d2(results: Path) -> None:
    base = results / D2_EXP
    if not (base / "metrics.csv").exists():
        return
    metrics = pd.read_csv(base / "metrics.csv")
    summary = pd.read_csv(base / "summary.csv")
    metrics["arm"] = metrics["d2_init"].map(arm_of)
    summary["arm"] = summary["d2_init"].map(arm_of)
    # x axis: optimizer steps in total, so PDI's curve starts after its stages' steps
    stages = metrics[metrics["phase"].astype(str).str.startswith("pdi_stage")]
    offset = stages.groupby(["run", "phase"])["step"].max().groupby("run").sum()
    train = metrics[(metrics["phase"] == "train") & metrics["train_batch_loss"].notna()].copy()
    train["step"] = train["step"] + train["run"].map(offset).fillna(0)
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=(2, 1))
    for arm, rows in train.groupby("arm"):
        by_step = rows.groupby("step")["train_batch_loss"]
        mean = by_step.mean()
        curves.plot(mean.index, mean.to_numpy(), label=f"{arm} (mean of {rows['seed'].nunique()})")
        curves.fill_between(
            mean.index, by_step.min().to_numpy(), by_step.max().to_numpy(), alpha=0.2
        )
    curves.set_xlabel("optimizer steps (PDI stages included)")
    curves.set_ylabel("training loss (l1 + beta kl / values)")
    curves.set_yscale("log")
    curves.legend()
    done = summary[summary["status"] == "completed"]
    final = done.groupby("arm")["test_l1"].agg(["mean", "std"])
    arms = list(final.index)
    bars.bar(arms, final["mean"], yerr=final["std"].fillna(0.0), color="tab:blue", label="measured")
    bars.scatter(
        ["he", "pdi"], [PAPER_L1_HE, PAPER_L1_PDI], color="tab:red", zorder=3, label="paper"
    )
    bars.set_ylabel("final test L1 per value")
    bars.legend(fontsize=8)
    save_figure(fig, base / "vae_curves.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a profile's results directory, e.g. results/quick")
    results = Path(parser.parse_args().results)
    plot_d1(results)
    plot_d2(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

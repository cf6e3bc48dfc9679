"""Figures and the table of paper D (PDI as initialization).

* :func:`weight_variance_figure` (D1): Var(W) / (2 / fan_in) of every layer through the PDI
  stages, one line per base initializer (median over seeds); 1 is He's variance;
* :func:`vae_figure` (D2): training loss of every arm (mean and range over seeds) against
  optimizer steps in total (PDI's curve starts after its stages), and the final test L1 per arm
  next to the paper's Table 1; :func:`l1_table`: the same numbers as a table.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from initlab.papers.pdi.claims import D1_CLOSE_TOL, PAPER_L1_HE, PAPER_L1_PDI, arm_of
from initlab.report.common import completed_runs


def weight_variance_figure(variance: pd.DataFrame) -> plt.Figure:
    """D1 from the completed runs of ``d1_pdi_weight_variance/weight_variance.csv``."""
    table = variance.copy()
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
    return fig


def _with_arm(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(arm=frame["arm"].map(arm_of))


#: line styles of D2's arms (he_matched continues He's curve: dashed over a wide He line)
CURVE_STYLES = {
    "he": {"lw": 4.0, "alpha": 0.6, "zorder": 2},
    "he_matched": {"ls": "--", "lw": 1.5, "zorder": 3},
    "pdi": {"lw": 1.5, "zorder": 3},
}


def vae_figure(metrics: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """D2 from ``d2_pdi_vae``'s ``metrics.csv`` and ``summary.csv`` (all rows; the bars use the
    completed runs)."""
    metrics = _with_arm(metrics)
    # x axis: optimizer steps in total, so PDI's curve starts after its stages' steps
    stages = metrics[metrics["phase"].astype(str).str.startswith("pdi_stage")]
    offset = stages.groupby(["run", "phase"])["step"].max().groupby("run").sum()
    train = metrics[(metrics["phase"] == "train") & metrics["train_batch_loss"].notna()].copy()
    train["step"] = train["step"] + train["run"].map(offset).fillna(0)
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=(2, 1))
    for arm, rows in train.groupby("arm"):
        by_step = rows.groupby("step")["train_batch_loss"]
        mean = by_step.mean()
        # he_matched is He trained on for PDI's stage steps: the two curves coincide up to He's
        # last step, so He is drawn wide beneath and he_matched dashed on top (both visible)
        style = CURVE_STYLES.get(arm, {})
        curves.plot(
            mean.index, mean.to_numpy(), label=f"{arm} (mean of {rows['seed'].nunique()})", **style
        )
        curves.fill_between(
            mean.index, by_step.min().to_numpy(), by_step.max().to_numpy(), alpha=0.2
        )
    curves.set_xlabel("optimizer steps (PDI stages included)")
    curves.set_ylabel("training loss (l1 + beta kl / values)")
    curves.set_yscale("log")
    curves.legend()
    final = _with_arm(completed_runs(summary)).groupby("arm")["test_l1"].agg(["mean", "std"])
    arms = list(final.index)
    bars.bar(arms, final["mean"], yerr=final["std"].fillna(0.0), color="tab:blue", label="measured")
    bars.scatter(
        ["he", "pdi"], [PAPER_L1_HE, PAPER_L1_PDI], color="tab:red", zorder=3, label="paper"
    )
    bars.set_ylabel("final test L1 per value")
    bars.legend(fontsize=8)
    return fig


def l1_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Final test L1 per arm (mean, s.e., n) of the completed runs of ``d2_pdi_vae/summary.csv``
    next to the paper's Table 1."""
    grouped = _with_arm(completed_runs(summary)).groupby("arm")["test_l1"]
    paper = {"he": PAPER_L1_HE, "pdi": PAPER_L1_PDI}
    return pd.DataFrame(
        {
            "arm": list(grouped.groups),
            "runs": grouped.count().to_numpy(),
            "final test L1 (mean)": grouped.mean().to_numpy(),
            "s.e.": (grouped.std(ddof=1) / grouped.count() ** 0.5).to_numpy(),
            "paper Table 1": [paper.get(a, float("nan")) for a in grouped.groups],
        }
    )

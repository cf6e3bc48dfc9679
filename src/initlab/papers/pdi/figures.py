"""Figures and the table of paper D (PDI as initialization).

* :func:`weight_variance_figure` (D1): Var(W) / (2 / fan_in) of every layer through PDI, one
  colour per start (base initializer x gain, conf/arm/d1_*): the geometric mean over seeds with
  the band of the seeds' range (a run that stopped, its variance settled, holds its last value),
  on one shared log scale, with 1 (He's 2 / fan_in) and the "close" band [0.8, 1.25] drawn; the
  last panel: the second layer's ratio at the end against at the start, one point per run, with
  the identity (no movement) and 1 (full attraction): a pull towards 2 / fan_in puts the starts
  below 1 above the identity and those above 1 below it;
* :func:`vae_figure` (D2): test and train L1 per value (not the training loss, L1 + beta KL)
  against optimizer steps in total: PDI's stages first (shaded; its train L1 there is on the
  stage's subset), then the main phase; mean over seeds with the band of their range; and PDI's
  relative L1 gain over He and over He given PDI's extra steps with 95% Welch intervals, next
  to the paper's gain (a dimensionless reference; the paper's absolute L1, from another data set
  and resolution, is in :func:`l1_table`, never on an axis).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from initlab.papers.pdi.claims import (
    D1_CLOSE_TOL,
    D1_LAYER_POSITION,
    D2_GAIN_SHARE,
    PAPER_L1_HE,
    PAPER_L1_PDI,
    arm_of,
    paper_gain,
    relative_gain,
)
from initlab.report.common import completed_runs

#: the "close" band on the ratio axis: [1 / 1.25, 1.25]
BAND = (1.0 / (1.0 + D1_CLOSE_TOL), 1.0 + D1_CLOSE_TOL)


def _start_label(table: pd.DataFrame) -> pd.Series:
    if "arm" in table.columns:
        return table["arm"].astype(str).str.removeprefix("d1_")
    return table["base"].astype(str)


def _filled(rows: pd.DataFrame, steps: np.ndarray) -> pd.DataFrame:
    """Ratio per (seed, step) on ``steps``: a run that stopped early keeps its last value."""
    wide = rows.pivot_table(index="global_step", columns="seed", values="ratio", aggfunc="last")
    return wide.reindex(steps).ffill()


def weight_variance_figure(variance: pd.DataFrame) -> plt.Figure:
    """D1 from the completed runs of ``d1_pdi_weight_variance/weight_variance.csv``."""
    table = variance.copy()
    table["ratio"] = table["variance"] / table["he_variance"]
    table["start"] = _start_label(table)
    if "seed" not in table.columns:
        table["seed"] = 0
    # one step axis across stages: a stage's steps follow the previous stage's last step
    offsets = table.groupby("stage")["step"].max().cumsum().shift(fill_value=0)
    table["global_step"] = table["step"] + table["stage"].map(offsets)
    layers = list(dict.fromkeys(table["layer"]))
    starts = list(dict.fromkeys(table["start"]))
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(starts)}
    fig, axes = plt.subplots(
        1, len(layers) + 1, figsize=(3.4 * (len(layers) + 1), 3.6), squeeze=False
    )
    axes = axes[0]
    low, high = table["ratio"].min(), table["ratio"].max()
    for ax, layer in zip(axes[:-1], layers, strict=True):
        part = table[table["layer"] == layer]
        for start in starts:
            rows = part[part["start"] == start]
            if rows.empty:
                continue
            steps = np.sort(rows["global_step"].unique())
            wide = _filled(rows, steps)
            centre = np.exp(np.log(wide).mean(axis=1))  # geometric mean over seeds
            ax.plot(steps, centre.to_numpy(), color=colours[start], lw=1.4, label=start)
            ax.fill_between(
                steps, wide.min(axis=1), wide.max(axis=1), color=colours[start], alpha=0.2, lw=0
            )
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.axhspan(*BAND, color="grey", alpha=0.15)
        ax.set_title(f"{layer} (fan_in {int(part['fan_in'].iloc[0])})", fontsize=9)
        ax.set_xlabel("PDI step")
        ax.set_yscale("log")
        ax.set_ylim(min(low, BAND[0]) / 1.3, max(high, BAND[1]) * 1.3)
    for ax in axes[1:-1]:
        ax.sharey(axes[0])
        ax.tick_params(labelleft=False)
    axes[0].set_ylabel("Var(W) / (2 / fan_in)   (1: He)")
    axes[0].legend(title="start (mean of seeds,\nband: their range)", fontsize=7, title_fontsize=7)
    _attraction_panel(axes[-1], table, layers, colours)
    fig.tight_layout()
    return fig


def _attraction_panel(ax: plt.Axes, table: pd.DataFrame, layers: list, colours: dict) -> None:
    """End against start ratio of the watched layer, one point per run."""
    layer = layers[min(D1_LAYER_POSITION, len(layers) - 1)]
    part = table[table["layer"] == layer]
    order = part.sort_values(["stage", "step"], kind="stable").groupby(["start", "seed"])
    ends = order["ratio"].agg(["first", "last"]).reset_index()
    for start, rows in ends.groupby("start", sort=False):
        ax.scatter(rows["first"], rows["last"], s=16, color=colours[start], zorder=3)
    lo = min(ends["first"].min(), ends["last"].min(), BAND[0]) / 1.5
    hi = max(ends["first"].max(), ends["last"].max(), BAND[1]) * 1.5
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls=":", label="end = start (no pull)")
    ax.axhline(1.0, color="black", lw=0.8, ls="--", label="end = 1 (He's 2 / fan_in)")
    ax.axhspan(*BAND, color="grey", alpha=0.15)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"{layer}: ratio at the start of PDI")
    ax.set_ylabel("ratio at the end (one point per run)")
    ax.set_title("attraction: towards the dashed line?", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def _with_arm(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(arm=frame["arm"].map(arm_of))


#: line styles of D2's arms (he_matched continues He's curve: dashed over a wide He line)
CURVE_STYLES = {
    "he": {"lw": 4.0, "alpha": 0.5, "zorder": 2, "color": "tab:blue"},
    "he_matched": {"ls": "--", "lw": 1.5, "zorder": 3, "color": "tab:green"},
    "pdi": {"lw": 1.5, "zorder": 3, "color": "tab:orange", "marker": "."},
}


def l1_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """Evaluation rows (train_l1, test_l1) of every run on one step axis of optimizer steps in
    total: ``pdi_start`` at 0, a PDI stage's steps after the stages before it, the main phase
    (``main_start`` at its step 0, then ``train``) after all stages."""
    metrics = _with_arm(metrics)
    rows = metrics[metrics["test_l1"].notna()].copy()
    phase = rows["phase"].astype(str)
    stage_rows = metrics[metrics["phase"].astype(str).str.startswith("pdi_stage")]
    ends = stage_rows.groupby(["run", "phase"])["step"].max().reset_index()
    ends["order"] = ends["phase"].str.removeprefix("pdi_stage").astype(int)
    ends = ends.sort_values(["run", "order"], kind="stable")
    ends["offset"] = ends.groupby("run")["step"].cumsum() - ends["step"]
    offset = ends.set_index(["run", "phase"])["offset"]
    total = ends.groupby("run")["step"].sum()
    rows["x"] = rows["step"].astype(float)
    in_stage = phase.str.startswith("pdi_stage")
    keys = list(zip(rows.loc[in_stage, "run"], rows.loc[in_stage, "phase"], strict=True))
    rows.loc[in_stage, "x"] += offset.reindex(keys).to_numpy()
    main = phase.isin(["train", "main_start"])
    rows.loc[main, "x"] += rows.loc[main, "run"].map(total).fillna(0).to_numpy()
    rows["part"] = np.where(in_stage | (phase == "pdi_start"), "pdi stages", "main")
    return rows.drop_duplicates(["run", "phase", "step"], keep="last")


def _draw_curves(ax: plt.Axes, curves: pd.DataFrame, labels: bool) -> None:
    """Test L1 (solid) and train L1 (dashed, thinner) per arm: mean over seeds, band: range."""
    for arm in [a for a in CURVE_STYLES if a in set(curves["arm"])]:
        rows = curves[curves["arm"] == arm]
        style = dict(CURVE_STYLES[arm])
        n = rows["seed"].nunique()
        for key, extra in (("test_l1", {}), ("train_l1", {"ls": ":", "lw": 1.2, "marker": None})):
            by_x = rows.groupby("x")[key]
            mean = by_x.mean()
            label = f"{arm} (mean of {n})" if labels and key == "test_l1" else None
            ax.plot(mean.index, mean.to_numpy(), label=label, **{**style, **extra})
            if key == "test_l1":
                ax.fill_between(
                    mean.index,
                    by_x.min().to_numpy(),
                    by_x.max().to_numpy(),
                    color=style["color"],
                    alpha=0.2,
                    lw=0,
                )


def vae_figure(metrics: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """D2 from ``d2_pdi_vae``'s ``metrics.csv`` and ``summary.csv`` (the completed runs)."""
    done = set(completed_runs(summary)["run"]) if "status" in summary.columns else None
    if done is not None:
        metrics = metrics[metrics["run"].isin(done)]
    curves = l1_curves(metrics)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), width_ratios=(1.3, 1.3, 1))
    stage_end = curves.loc[curves["part"] == "pdi stages", "x"].max()
    stage_end = float(stage_end) if np.isfinite(stage_end) else 0.0
    overview, zoom = axes[0], axes[1]
    _draw_curves(overview, curves, labels=True)
    _draw_curves(zoom, curves, labels=False)
    if stage_end:
        overview.axvspan(0, stage_end, color="tab:orange", alpha=0.08, lw=0)
        overview.axvline(stage_end, color="tab:orange", lw=0.8, ls=":")
        overview.text(
            stage_end / 2, 0.98, "PDI's stages\n(PDI arm only)",
            transform=overview.get_xaxis_transform(), ha="center", va="top", fontsize=7,
            color="tab:orange",
        )  # fmt: skip
    overview.set_yscale("log")
    overview.set_title("L1 per value through training (log scale)", fontsize=9)
    overview.set_ylabel("L1 per value (mean over seeds; band: range of test L1)")
    overview.plot([], [], color="grey", label="solid: test L1 (full test split)")
    overview.plot([], [], color="grey", ls=":", label="dotted: train L1 (stages: their subset)")
    overview.legend(fontsize=7)
    # the zoom: everything after PDI's stages, on a linear scale, where the arms are compared
    window = curves[curves["x"] >= stage_end]
    low = window[["test_l1", "train_l1"]].min().min()
    high = window.loc[window["x"] >= stage_end + 0.25 * (window["x"].max() - stage_end)]
    high = high[["test_l1", "train_l1"]].max().max()
    zoom.set_xlim(stage_end, window["x"].max() * 1.02)
    zoom.set_ylim(low * 0.97, high * 1.03)
    zoom.set_title("after PDI's stages (linear scale)", fontsize=9)
    zoom.set_ylabel("L1 per value")
    for ax in axes[:2]:
        ax.set_xlabel("optimizer steps in total (PDI's stages first)")
    _gain_panel(axes[2], summary)
    fig.tight_layout()
    return fig


def _gain_panel(ax: plt.Axes, summary: pd.DataFrame) -> None:
    """PDI's relative L1 gain over each He arm with its 95% Welch interval; 0 and the paper's
    gain (and half of it, the rule's threshold) as reference levels."""
    final = _with_arm(completed_runs(summary))
    values = {a: final.loc[final["arm"] == a, "test_l1"].to_numpy(float) for a in ("he", "pdi")}
    values["he_matched"] = final.loc[final["arm"] == "he_matched", "test_l1"].to_numpy(float)
    labels, points = [], []
    for control, label in (("he", "vs He"), ("he_matched", "vs He +\nPDI's steps")):
        gain = relative_gain(values["pdi"], values[control])
        if gain is not None:
            labels.append(label)
            points.append(gain)
    x = np.arange(len(points))
    for i, g in enumerate(points):
        ax.errorbar(
            i, g.value, yerr=[[g.value - g.lo], [g.hi - g.value]], fmt="o", color="black",
            capsize=4,
        )  # fmt: skip
    ax.axhline(0.0, color="black", lw=0.8)
    ax.axhline(paper_gain(), color="tab:red", ls="--", lw=1, label=f"paper {paper_gain():.1%}")
    ax.axhline(
        D2_GAIN_SHARE * paper_gain(),
        color="tab:red",
        ls=":",
        lw=1,
        label=f"half of it {D2_GAIN_SHARE * paper_gain():.1%}",
    )
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.6, max(len(points), 1) - 0.4)
    ax.set_ylabel("PDI's relative gain 1 - L1(PDI) / L1(arm)")
    ax.set_title("final test L1 gain (95% Welch interval)", fontsize=9)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.legend(fontsize=7, loc="center right")


def l1_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Final test L1 per arm (mean, s.e., n) of the completed runs of ``d2_pdi_vae/summary.csv``,
    PDI's relative gain over the arm (95% Welch interval), next to the paper's Table 1 and its
    gain (the paper's L1 is from CIFAR-10 at 1024x1024: only the relative gain compares)."""
    final = _with_arm(completed_runs(summary))
    grouped = final.groupby("arm")["test_l1"]
    paper = {"he": PAPER_L1_HE, "pdi": PAPER_L1_PDI}
    pdi = final.loc[final["arm"] == "pdi", "test_l1"].to_numpy(float)
    gains = []
    for arm in grouped.groups:
        gain = None if arm == "pdi" else relative_gain(pdi, grouped.get_group(arm).to_numpy(float))
        gains.append("" if gain is None else f"{gain.value:+.1%} [{gain.lo:+.1%}, {gain.hi:+.1%}]")
    return pd.DataFrame(
        {
            "arm": list(grouped.groups),
            "runs": grouped.count().to_numpy(),
            "final test L1 (mean)": grouped.mean().to_numpy(),
            "s.e.": (grouped.std(ddof=1) / grouped.count() ** 0.5).to_numpy(),
            "PDI's gain over it (95% CI)": gains,
            "paper Table 1 L1": [paper.get(a, float("nan")) for a in grouped.groups],
            "paper's gain over it": [
                f"{paper_gain():+.1%}" if a == "he" else "" for a in grouped.groups
            ],
        }
    )

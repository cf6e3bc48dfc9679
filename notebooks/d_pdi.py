# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # D. Progressive Data Increasing (PDI) as initialization (claims D1-D2)
#
# Sato & Kimura (Ridge-i). PDI first trains the freshly initialized network on a small random
# subset of the training data (a schedule of growing subsets, "progressive"); its parameters then
# initialize training on the full data.
#
# - **D1** after PDI, the variance of the second conv layer's weights of a 3-layer CNN lands
#   close to He's 2 / n_in (paper Fig. 1, CIFAR-10, 0.1% subset);
# - **D2** a deep ResNet-VAE trains more stably with PDI than with He init; Table 1, final L1
#   reconstruction loss: He 0.2418, PDI 0.1860 (Fig. 2: learning curves).
#
# Reads the collected CSVs only (`INITLAB_RESULTS`, default `results/quick`); never trains.

# %%
import math

import pandas as pd
from _common import check, load, results_dir, show, show_table, verdicts

from initlab.papers.pdi import figures as plots
from initlab.papers.pdi.claims import D1_CLOSE_TOL, PAPER_L1_HE, PAPER_L1_PDI

RESULTS = results_dir()

# %% [markdown]
# ## Verdicts (claims registry)

# %%
table = verdicts(RESULTS, ("D1", "D2"))
show_table(table[["verdict", "scale"]])

# %% [markdown]
# ## D1: weight variance through PDI
# Experiment `d1_pdi_weight_variance` (`init=pdi` with a base initializer: he, lecun, xavier,
# torch's default): `weight_variance.csv` records Var(W) of every layer during the PDI stages,
# next to He's 2 / fan_in (`he_variance`). The ratio Var(W) / (2 / fan_in) is 1 at He's value.
# The rule looks at the second conv layer (median over seeds): He must stay within
# +-25% of 1, and every other base must land there (all: reproduced; He stays and the others at
# least move towards 1: partly).

# %%
variance = load(RESULTS, "d1_pdi_weight_variance", "weight_variance")
if variance is not None:
    variance = variance.assign(ratio=variance["variance"] / variance["he_variance"])
    variance["order"] = variance["stage"] * 10**9 + variance["step"]
    keys = ["base", "seed", "layer"] if "seed" in variance.columns else ["base", "layer"]
    ordered = variance.sort_values("order").groupby(keys, sort=False)["ratio"]
    ends = pd.DataFrame({"start": ordered.first(), "end": ordered.last()}).reset_index()
    layers = list(dict.fromkeys(variance["layer"]))  # in module order
    per_base = ends.groupby(["base", "layer"])[["start", "end"]].median().unstack("layer")
    show_table(
        per_base.reindex(columns=layers, level=1), "Var(W) / (2 / fan_in), median over seeds"
    )
    conv2 = ends[ends["layer"] == layers[1]].groupby("base")[["start", "end"]].median()
    conv2["within 25% at the end"] = (conv2["end"] - 1.0).abs() <= D1_CLOSE_TOL
    show_table(conv2, f"second weight layer ({layers[1]})")
    if "he" in conv2.index:
        check(RESULTS, "D1", f"he {conv2.loc['he', 'start']:.2f}->{conv2.loc['he', 'end']:.2f}")

# %% [markdown]
# The report's figure: the ratio (median over seeds) through the PDI stages, one step axis across
# stages; grey: the +-25% band of the rule.

# %%
if variance is not None:
    show(plots.weight_variance_figure(variance))

# %% [markdown]
# ## D2: the ResNet-VAE, He vs PDI
# Experiment `d2_pdi_vae` (`task=train_vae`), arms `d2_he`, `d2_pdi` and `d2_he_matched`
# (column `arm`; the rule reads them as `he`, `pdi` and `he_matched`: He given PDI's extra
# optimizer steps, so that PDI's gain is not just more steps). The rule compares the final
# test L1 per value (mean +- standard error over seeds):
# PDI must be lower than He by more than 2 standard errors, by at least half the paper's relative
# gain, beat `he_matched` too, and have a learning curve at least as smooth (roughness: mean
# |log loss - its rolling median|) with no more failed runs. Absolute L1 values depend on data
# and image size: the quick profile uses small embedded images, not 1024x1024 CIFAR-10.

# %%
vae = load(RESULTS, "d2_pdi_vae")
if vae is not None:
    l1 = plots.l1_table(vae).set_index("arm")  # the report's table
    show_table(l1, "final test L1 per value")
    mean = l1["final test L1 (mean)"]
    if {"he", "pdi"} <= set(l1.index):
        gain = 1.0 - mean["pdi"] / mean["he"]
        z = (mean["he"] - mean["pdi"]) / math.hypot(l1.loc["he", "s.e."], l1.loc["pdi", "s.e."])
        paper_gain = 1.0 - PAPER_L1_PDI / PAPER_L1_HE
        print(f"PDI vs He: {gain:+.1%} ({z:.1f} s.e.); the paper: {paper_gain:.1%}")
        check(RESULTS, "D2", f"PDI vs He {gain:+.1%}")

# %% [markdown]
# The report's figure: training loss against optimizer steps in total (PDI's curve starts after
# its stages; line: mean over seeds, band: min-max), and the final test L1 next to the paper's.

# %%
metrics = load(RESULTS, "d2_pdi_vae", "metrics", completed=False)
if vae is not None and metrics is not None:
    show(plots.vae_figure(metrics, vae))

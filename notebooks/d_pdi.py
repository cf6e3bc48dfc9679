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
#   close to He's 2 / n_in (paper Fig. 1, CIFAR-10, 0.1% subset); tested here as attraction;
# - **D2** a deep ResNet-VAE trains more stably with PDI than with He init; Table 1, final L1
#   reconstruction loss: He 0.2418, PDI 0.1860 (Fig. 2: learning curves).
#
# Reads the collected CSVs only (`INITLAB_RESULTS`, default `results/quick`); never trains.

# %%
from _common import check, load, results_dir, show, show_table, verdicts

from initlab.papers.pdi import figures as plots
from initlab.papers.pdi.claims import (
    arm_of,
    d1_starts,
    paper_gain,
    relative_gain,
    variance_ratios,
)

RESULTS = results_dir()

# %% [markdown]
# ## Verdicts (claims registry)

# %%
table = verdicts(RESULTS, ("D1", "D2"))
show_table(table[["verdict", "scale"]])

# %% [markdown]
# ## D1: does PDI pull the weight variance to 2 / fan_in?
# Experiment `d1_pdi_weight_variance`: `init=pdi` from six starts (`conf/arm/d1_*`: He / 4, He and
# He x 4 in variance via `init.gain`, Xavier, LeCun, PyTorch's default), 5 seeds each, one PDI
# stage on 60 MNIST images (the paper's 0.1% of 60,000, as an absolute size) until the second
# conv layer's ratio Var(W) / (2 / fan_in) stops moving (<= 1% over the last 10 records,
# `settled`). The rule tests attraction: per start, the pull |log end| - |log start| over
# seeds (95% t interval; < 0: nearer 2 / fan_in). Starts on both sides must move towards it;
# a growth that lifts every start moves those above away, and fails.

# %%
variance = load(RESULTS, "d1_pdi_weight_variance", "weight_variance")
if variance is not None:
    starts = d1_starts(variance_ratios(variance))  # the rule's own table
    show_table(starts.set_index("start").round(3), "second weight layer, per start")
    he_x4 = starts[starts["start"] == "d1_he_x4"]
    if len(he_x4):
        row = he_x4.iloc[0]
        check(RESULTS, "D1", f"d1_he_x4 (above) {row.start_ratio:.2f}->{row.end_ratio:.2f}")

# %% [markdown]
# The report's figure: the ratio of every layer through PDI (geometric mean over seeds, band:
# their range, a run that stopped holds its last value) on one log scale, 1 and the [0.8, 1.25]
# band drawn; last panel: end against start per run (attraction: points move to the dashed line).

# %%
if variance is not None:
    show(plots.weight_variance_figure(variance))

# %% [markdown]
# ## D2: the ResNet-VAE, He vs PDI
# Experiment `d2_pdi_vae` (`task=train_vae`), arms `d2_he`, `d2_pdi` and `d2_he_matched` (He
# given PDI's 60 extra optimizer steps, so that PDI's gain is not just more steps). The rule
# grades PDI's relative gain in final test L1 per value over the matched control, 1 - L1(PDI) /
# L1(he_matched), with its 95% Welch interval over seeds, against the paper's Table 1 gain
# (23.1%; "the paper's effect": at least half of it). Absolute L1 values depend on data and
# image size (the quick profile: 8x8 digits at 16x16, not 1024x1024 CIFAR-10), so the paper's
# absolute numbers are in the table only.

# %%
vae = load(RESULTS, "d2_pdi_vae")
if vae is not None:
    show_table(plots.l1_table(vae).set_index("arm"), "final test L1 per value")  # the report's
    final = vae.assign(arm=vae["arm"].map(arm_of))
    values = {a: final.loc[final["arm"] == a, "test_l1"].to_numpy(float) for a in set(final["arm"])}
    if {"pdi", "he_matched"} <= set(values):
        gain = relative_gain(values["pdi"], values["he_matched"])
        print(f"PDI vs matched He: {gain.text(3)}; the paper: {paper_gain():.1%}")
        check(RESULTS, "D2", f"{gain.value:+.1%} [{gain.lo:+.1%}, {gain.hi:+.1%}]")

# %% [markdown]
# The report's figure: test and train L1 per value against optimizer steps in total (PDI's
# stages first, shaded; line: mean over seeds, band: their range), and PDI's relative gain with
# its interval beside the paper's.

# %%
metrics = load(RESULTS, "d2_pdi_vae", "metrics", completed=False)
if vae is not None and metrics is not None:
    show(plots.vae_figure(metrics, vae))

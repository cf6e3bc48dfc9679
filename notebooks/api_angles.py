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
# # initlab from Python: angles between inputs through depth, at initialization
#
# Builds models with initlab's Python API (no Hydra command line), measures the cosine between
# the hidden features of input pairs layer by layer, and sets the mean-field theory beside it
# (the ReLU arc-cosine kernel map for the MLP, its residual counterpart for the ResNet; there is
# no closed form for true BatchNorm). The paper notebooks read the CSVs of the experiments
# instead; this one measures directly (no training: one forward pass per model).

# %%
import torch
from _common import plt, show, show_table

from initlab.analysis.features import layer_table, make_pairs
from initlab.compose import compose
from initlab.data import build_data
from initlab.setup import parse_config

DEPTH, WIDTH = 50, 256

# %% [markdown]
# `compose` resolves the same config groups as `python train.py model=... init=...`;
# `parse_config` turns it into typed configs and `setup.new_model(data)` gives a freshly
# initialized model. `make_pairs` draws input pairs with exactly the given cosines.

# %%
# 32 input pairs at each of three initial cosines, in the data's dimension (32 for synthetic)
generator = torch.Generator().manual_seed(0)
pair_set = make_pairs([0.2, 0.5, 0.9], pairs_per_cosine=32, dim=32, generator=generator)
tables = {}
for model in ("mlp", "resnet", "resnet_bn"):
    cfg = compose(
        [
            f"model={model}",
            "init=he",
            "data=synthetic",
            f"model.depth={DEPTH}",
            f"model.width={WIDTH}",
            "device=cpu",
            "logger.wandb.mode=disabled",
        ]
    )
    setup = parse_config(cfg)
    data = build_data(setup.data)
    torch.manual_seed(0)
    net = setup.new_model(data)
    table = layer_table(net, pair_set.x, pairs=pair_set.pairs, groups=pair_set.group)
    tables[model] = table[table["group"] == 0.5]
    show_table(tables[model][["layer", "cos_mean", "theory_cos"]].tail(3), f"{model}, cos0 = 0.5")

# %% [markdown]
# With ReLU and He init the theory says a pair's features become ever more aligned (cosine -> 1)
# with depth; compare the measured mean over 32 pairs (solid) with it (dashed). BatchNorm's curve
# is a measurement only.

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
for model, table in tables.items():
    ax.plot(table["layer"], table["cos_mean"], label=f"{model} measured")
    if table["theory_cos"].notna().any():
        ax.plot(table["layer"], table["theory_cos"], "--", label=f"{model} theory")
ax.set_xlabel("layer / block")
ax.set_ylabel("cosine between the pair's features")
ax.legend(fontsize=7)
show(fig)

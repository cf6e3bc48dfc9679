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
# # A. Fixup at initialization: the Hessian spectrum (claims A1-A4)
#
# Furusho & Ikeda (IBISML2019-17). Fixup scales the He-initialized inner layers of each of the
# L residual branches by L^(-1/(2m-2)) and zero-initializes every branch's last layer and the
# classifier, with no normalization layer. The paper's claims, at initialization:
#
# - **A1** the top Hessian eigenvalue lambda_max grows at most like sqrt(L) under Fixup;
# - **A2** it grows exponentially in L under He (no normalization);
# - **A3** Fixup's Hessian is sparse: the zero-initialized layers zero whole blocks;
# - **A4** the small lambda_max lets SGD use a larger learning rate: faster and better than He.
#
# This notebook only reads the collected CSVs (`results/<profile>/<experiment>/*.csv`, written
# by `make reproduce-quick`); it never trains. Set `INITLAB_RESULTS` to read another profile.

# %%
import numpy as np
import pandas as pd
from _common import check, load, plt, results_dir, show, show_table, verdicts

from initlab.analysis.laws import compare_laws

RESULTS = results_dir()
DEPTH = "model.depth"
COLORS = {
    "resnet_he": "tab:red",
    "resnet_fixup": "tab:blue",
    "resnet_bn": "tab:green",
    "resnet_bn_zero": "tab:olive",
    "mlp_he": "tab:purple",
}

# %% [markdown]
# ## Verdicts
# From the claims registry (`initlab.claims`): each rule reads the same CSVs as below and
# states the numbers it decided on. The sections after it recompute those numbers.

# %%
table = verdicts(RESULTS, ("A1", "A2", "A3", "A4"))
show_table(table[["verdict", "scale"]])

# %% [markdown]
# ## A1 / A2: lambda_max against depth
# Experiment `a1_a2_hessian_depth`: residual nets of L blocks (arms in column `arm`), the top
# Hessian eigenvalue of the training loss at initialization by Lanczos on Hessian-vector
# products, a few seeds per depth. The rules take the median over seeds at each depth and fit,
# by least squares in log y, a power law (log y linear in log L) and an exponential (log y
# linear in L): the smaller RMSE of log y "fits better". A1 asks Fixup's power exponent to be
# at most 1/2; A2 asks the exponential to fit He's curve better, with a positive rate.

# %%
hessian = load(RESULTS, "a1_a2_hessian_depth")
fits = {}
if hessian is not None:
    medians = hessian.pivot_table(index=DEPTH, columns="arm", values="lambda_max", aggfunc="median")
    show_table(medians, "median lambda_max over seeds (rows: depth L)")
    rows = []
    for arm in medians.columns:
        curve = medians[arm].dropna()
        curve = curve[curve > 0]
        if len(curve) < 3:
            continue
        fits[arm] = compare_laws(curve.index, curve.to_numpy(), ("power", "exponential", "sqrt"))
        f = fits[arm]
        rows.append(
            {
                "arm": arm,
                "best of power/exp": min(("power", "exponential"), key=lambda k: f[k].rmse_log),
                "power exponent": f["power"].params["exponent"],
                "power R2": f["power"].r2_log,
                "exp rate /block": f["exponential"].params["rate"],
                "exp R2": f["exponential"].r2_log,
                "sqrt-law R2": f["sqrt"].r2_log,
            }
        )
    show_table(pd.DataFrame(rows).set_index("arm"), "law fits of the median curves")
    if "resnet_fixup" in fits:
        check(
            RESULTS, "A1", f"power exponent {fits['resnet_fixup']['power'].params['exponent']:.2f}"
        )
    if "resnet_he" in fits:
        check(
            RESULTS, "A2", f"exp rate {fits['resnet_he']['exponential'].params['rate']:.3f}/block"
        )

# %%
if hessian is not None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, rows in hessian.groupby("arm"):
        color = COLORS.get(arm)
        ax.scatter(rows[DEPTH], rows["lambda_max"], s=8, alpha=0.4, color=color)
        curve = medians[arm].dropna()
        ax.plot(curve.index, curve.to_numpy(), "o-", color=color, label=arm)
        if arm in fits:
            grid = np.linspace(curve.index.min(), curve.index.max(), 100)
            ax.plot(grid, fits[arm]["power"].predict(grid), "--", color=color, lw=0.8)
            ax.plot(grid, fits[arm]["exponential"].predict(grid), ":", color=color, lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("residual blocks L")
    ax.set_ylabel("lambda_max of the Hessian at init")
    ax.set_title("dots: seeds; --: power law, : exponential (fits of the medians)", fontsize=9)
    ax.legend(fontsize=8)
    show(fig)

# %% [markdown]
# ## A3: the Hessian's block structure
# Experiment `a3_hessian_structure`: the dense Hessian of a small residual net at init, cut into
# blocks by parameter tensor; a block is zero when every entry is exactly 0. The rule: Fixup's
# zero-block fraction above 1/2 and above He's. `resnet_bn_zero` (BatchNorm with the last BN
# scale of each branch zeroed) is shown for reference.

# %%
structure = load(RESULTS, "a3_hessian_structure")
if structure is not None:
    columns = ["params", "tensors", "blocks", "zero_blocks", "zero_block_fraction"]
    blocks = structure.groupby("arm")[columns].mean()
    show_table(blocks, "zero blocks of the Hessian at init")
    if "resnet_fixup" in blocks.index:
        check(RESULTS, "A3", f"Fixup {blocks.loc['resnet_fixup', 'zero_block_fraction']:.3f}")

# %%
matrix = load(RESULTS, "a3_hessian_structure", "hessian_matrix")
if matrix is not None:
    arms = sorted(matrix["arm"].unique())
    fig, axes = plt.subplots(1, len(arms), figsize=(3.3 * len(arms), 3.4), squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=True):
        m = matrix[(matrix["arm"] == arm) & (matrix["seed"] == matrix["seed"].min())]
        size = int(m["cell_row"].max()) + 1
        grid = np.zeros((size, size))
        grid[m["cell_row"], m["cell_col"]] = m["abs_max"]
        log_grid = np.where(grid > 0, np.log10(np.where(grid > 0, grid, 1.0)), np.nan)
        ax.imshow(log_grid, cmap="viridis", interpolation="nearest")
        ax.set_title(f"{arm}\nlog10 |H| (white: exactly 0)", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    show(fig)

# %% [markdown]
# ## A4: learning-rate sweep, Fixup vs He (vs BatchNorm)
# Experiment `a4_lr_sweep`: the same nets trained by SGD at each learning rate for the same
# budget. A learning rate is "usable" when the run did not diverge and reached at least half the
# sweep's best test accuracy. The rule checks three things, Fixup against He: a larger largest
# usable learning rate, a lower final training loss at each arm's best learning rate, and a best
# test accuracy at least He's (all: reproduced, some: partly).

# %%
sweep = load(RESULTS, "a4_lr_sweep", completed=False)
if sweep is not None:
    sweep = sweep[sweep["status"].isin(("completed", "diverged"))].copy()
    sweep["acc"] = sweep["test_accuracy"].where(sweep["status"] == "completed", 0.0).fillna(0.0)
    accuracy = sweep.pivot_table(index="optim.lr", columns="arm", values="acc", aggfunc="mean")
    show_table(accuracy, "test accuracy per learning rate (0: diverged)")
    best = float(accuracy.max().max())
    usable = accuracy.ge(0.5 * best)
    largest = {
        arm: (usable.index[usable[arm]].max() if usable[arm].any() else 0.0) for arm in usable
    }
    show_table(
        pd.DataFrame(
            {
                "largest usable lr": pd.Series(largest),
                "best acc": accuracy.max(),
                "at lr": accuracy.idxmax(),
            }
        ),
        "per arm",
    )
    if "resnet_fixup" in largest:
        check(RESULTS, "A4", f"resnet_fixup: largest usable lr {largest['resnet_fixup']:g}")

# %%
curves = load(RESULTS, "a4_lr_sweep", "metrics")
if sweep is not None and curves is not None:
    curves = curves[curves["train_batch_loss"].notna()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for arm in accuracy.columns:
        left.plot(accuracy.index, accuracy[arm], "o-", color=COLORS.get(arm), label=arm)
        lr = accuracy[arm].idxmax()
        run = curves[(curves["arm"] == arm) & (curves["optim.lr"] == lr)]
        loss = run.groupby("step")["train_batch_loss"].mean()  # mean over seeds
        right.plot(loss.index, loss.to_numpy(), color=COLORS.get(arm), label=f"{arm}, lr {lr:g}")
    left.set_xscale("log")
    left.set_xlabel("learning rate")
    left.set_ylabel("test accuracy (0: diverged)")
    left.legend(fontsize=8)
    right.set_yscale("log")
    right.set_xlabel("step")
    right.set_ylabel("training loss (minibatch)")
    right.set_title("each arm at its best learning rate", fontsize=9)
    right.legend(fontsize=8)
    show(fig)

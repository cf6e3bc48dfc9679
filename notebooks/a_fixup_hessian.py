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
import pandas as pd
from _common import check, load, results_dir, show, show_table, verdicts

from initlab.papers.fixup_hessian import figures as plots
from initlab.papers.fixup_hessian import figures_sweep as sweep_plots
from initlab.papers.fixup_hessian.claims import deep_half, fit_arm

RESULTS = results_dir()
DEPTH = plots.DEPTH

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
# products, 5 seeds per depth, L = 1..128. The quick profile's form: fully connected branches
# (width 64) on the flattened digits, 256 examples, float64 (He's lambda_max reaches ~1e33); the
# full profile keeps the conv form on CIFAR-10. The rules fit, by least squares in log y to every
# seed's point, a power law (log y linear in log L), an exponential (log y linear in L) and the
# nested law L^p e^(rL), each parameter with its 95% t interval. A1 asks Fixup's power exponent
# to be at most 1/2, over all depths and over the deep half L >= sqrt(L_min L_max) (an
# exponential factor shows there as a local exponent rL); A1 is falsified when either interval
# lies wholly above 1/2. A2 asks the nested fit to need a growing exponential for He.

# %%
hessian = load(RESULTS, "a1_a2_hessian_depth")
if hessian is not None:
    medians = hessian.pivot_table(index=DEPTH, columns="arm", values="lambda_max", aggfunc="median")
    show_table(medians, "median lambda_max over seeds (rows: depth L)")
    rows = []
    for arm in medians.columns:
        if hessian[hessian["arm"] == arm][DEPTH].nunique() < 3:
            continue
        f = fit_arm(hessian, arm, "lambda_max")
        deep = fit_arm(deep_half(hessian[hessian["arm"] == arm]), arm, "lambda_max")
        rows.append(
            {
                "arm": arm,
                "power exponent [95%]": f.exponent.text(2),
                "deep-half exponent [95%]": deep.exponent.text(2),
                "exp rate /block [95%]": f.rate.text(2),
                "nested rate [95%]": f.choice.rate.text(2),
                "nested law": f.law,
            }
        )
    show_table(pd.DataFrame(rows).set_index("arm"), "law fits to every seed's point")
    # the rules' numbers, recomputed here, must appear in the report
    for claim_id, arm in (("A1", "resnet_fixup"), ("A2", "resnet_he")):
        if arm in medians.columns:
            per_seed = fit_arm(hessian, arm, "lambda_max")
            check(RESULTS, claim_id, f"power exponent {per_seed.exponent.text(2)}")
            check(RESULTS, claim_id, f"exp rate {per_seed.rate.text(2)}/block")

# %% [markdown]
# The report's figure. Top: every arm on one axis (median, range over seeds as a band; dotted
# |lambda_min|). Below, one panel per arm: every seed (dots), and the sqrt(L) reference (its
# prefactor fitted), the fitted power law, exponential and nested law, each with its 95%
# confidence band (grey).

# %%
if hessian is not None:
    show(plots.lambda_depth_figure(hessian))

# %% [markdown]
# ## A3: the Hessian's block structure
# Experiment `a3_hessian_structure`: the dense float64 Hessian of a small residual net at init
# (3 seeds), cut into blocks by parameter tensor. A block is zero when its largest |entry| is at
# most `zero_threshold` x max|H|: the float64 round-off bound gamma_k = k u / (1 - k u) for
# k = examples x parameters (u = 2^-53). BatchNorm's analytically zero blocks (the bias before a
# BN) come out at ~1e-17 x max|H|, not exactly 0; `exact_zero_block_fraction` counts exact zeros
# only. The rule, per seed: Fixup's zero-block fraction above 1/2 and above He's.
# `resnet_bn_zero` (BatchNorm with the last BN scale of each branch zeroed) is shown for
# reference.

# %%
structure = load(RESULTS, "a3_hessian_structure")
if structure is not None:
    columns = ["params", "tensors", "blocks", "zero_blocks", "zero_block_fraction"]
    extra = ("exact_zero_block_fraction", "largest_zero_rel", "smallest_nonzero_rel")
    columns += [c for c in (*extra, "zero_threshold") if c in structure]
    blocks = structure.groupby("arm")[columns].mean()
    show_table(blocks, "zero blocks of the Hessian at init (mean over seeds)")
    if "resnet_fixup" in blocks.index:
        fixup = structure[structure["arm"] == "resnet_fixup"].sort_values("seed")
        shown = "/".join(f"{v:.3f}" for v in fixup["zero_block_fraction"])
        check(RESULTS, "A3", f"Fixup {shown}")

# %% [markdown]
# Top: |H| max-pooled into cells; bottom: the largest |H| entry of every (parameter tensor,
# parameter tensor) block, axes named by tensor (first seed of each arm). One colour scale per
# row, shared by the arms; grey: zero up to round-off.

# %%
matrix = load(RESULTS, "a3_hessian_structure", "hessian_matrix")
tensor_blocks = load(RESULTS, "a3_hessian_structure", "hessian_blocks")
if matrix is not None and tensor_blocks is not None:
    show(plots.hessian_heatmaps_figure(matrix, tensor_blocks, structure))

# %% [markdown]
# ## A4: learning-rate sweep, Fixup vs He (vs BatchNorm), with the authors' Fixup beside ours
# Experiment `a4_lr_sweep`: the same nets trained by SGD at each learning rate for the same
# budget, several seeds. A run is "usable" when it did not diverge and reached at least half the
# sweep's best test accuracy; per seed, an arm's largest usable learning rate is the largest
# grid value whose run is usable. The rule (`initlab.papers.fixup_hessian.claims_sweep`) checks
# the claim as stated, Fixup against He: (1) a larger largest usable learning rate in every
# seed, (2) faster: a lower training loss after the budget at each arm's best learning rate,
# (3) better: a higher test accuracy there, (2) and (3) by 95% Welch intervals over seeds.
# Below, the per-seed edges are recomputed from the summary directly.

# %%
runs = load(RESULTS, "a4_lr_sweep", completed=False)
sweep = None
if runs is not None:
    sweep = runs[runs["status"].isin(("completed", "diverged"))].copy()
    done = sweep["status"] == "completed"
    sweep["acc"] = sweep["test_accuracy"].where(done, 0.0).fillna(0.0)
    accuracy = sweep.pivot_table(index="optim.lr", columns="arm", values="acc", aggfunc="mean")
    show_table(accuracy, "mean test accuracy over seeds per learning rate (0: diverged)")
    sweep["usable"] = done & (sweep["acc"] >= 0.5 * sweep.loc[done, "acc"].max())
    seeds = sorted(sweep["seed"].unique())
    edges = (
        sweep[sweep["usable"]]
        .groupby(["arm", "seed"])["optim.lr"]
        .max()
        .unstack("seed")
        .reindex(columns=seeds)
        .fillna(0.0)
    )
    show_table(edges, "largest usable learning rate per arm and seed")
    if "resnet_fixup" in edges.index:
        per_seed = "/".join(f"{v:g}" for v in edges.loc["resnet_fixup"])
        check(RESULTS, "A4", f"largest usable lr per seed {per_seed} vs He")

# %% [markdown]
# The report's figures: test accuracy per learning rate (mean and min..max over the completed
# seeds, diverged runs as x with their count, each seed's largest usable lr beside it) and the
# training loss of every learning rate per arm; then each arm at its best learning rate
# (mean over seeds), a figure the report does not have.

# %%
if sweep is not None:
    show(sweep_plots.accuracy_vs_lr_figure(runs))
curves = load(RESULTS, "a4_lr_sweep", "metrics", completed=False)
if sweep is not None and curves is not None:
    show(sweep_plots.loss_curves_figure(curves))
    show(sweep_plots.best_lr_loss_figure(accuracy, curves))

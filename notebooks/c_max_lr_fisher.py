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
# # C. Depth, the largest usable learning rate and the Fisher spectrum (claims C1-C3)
#
# KAKENHI report 18J15055 (Furusho) and its companion abstract:
#
# - **C1** the angle claims of B: exponential decay in the MLP, about 1/l with ResNet + BN;
# - **C2** the largest learning rate at which gradient descent converges is exponentially small
#   in depth for a ResNet without BN, only reciprocally small (about 1/L) with BN (measured as
#   gradient descent's stability edge, beside 2 / lambda_max of the same runs);
# - **C3** the top eigenvalue of the Fisher information at random weights is independent of
#   depth for the MLP, grows exponentially for the ResNet and sub-linearly with BN.
#
# Reads the collected CSVs only (`INITLAB_RESULTS`, default `results/quick`); never trains.

# %%
import pandas as pd
from _common import check, load, results_dir, show, show_table, verdicts

from initlab.analysis.laws import compare_laws, fit_law
from initlab.papers.angles.claims import fit_curve, pair_curves
from initlab.papers.fixup_hessian import figures as plots
from initlab.papers.fixup_hessian.claims import fit_arm
from initlab.papers.max_lr import claims as c_claims
from initlab.papers.max_lr import figures as c_plots

RESULTS = results_dir()
DEPTH = plots.DEPTH


def law_table(medians: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Power law and exponential fitted (in log y) to every column with >= 3 positive points."""
    rows, fits = [], {}
    for arm in medians.columns:
        curve = medians[arm].dropna()
        curve = curve[curve > 0]
        if len(curve) < 3:
            continue
        fits[arm] = f = compare_laws(curve.index, curve.to_numpy(), ("power", "exponential"))
        rows.append(
            {
                "arm": arm,
                "L=min": curve.iloc[0],
                "L=max": curve.iloc[-1],
                "best law": next(iter(f)),
                "power exponent": f["power"].params["exponent"],
                "power R2": f["power"].r2_log,
                "exp rate /block": f["exponential"].params["rate"],
                "exp R2": f["exponential"].r2_log,
            }
        )
    return pd.DataFrame(rows).set_index("arm") if rows else pd.DataFrame(), fits


# %% [markdown]
# ## Verdicts (claims registry)

# %%
table = verdicts(RESULTS, ("C1", "C2", "C3"))
show_table(table[["verdict", "scale"]])

# %% [markdown]
# ## C1: the angles again
# C1 reads the B experiment `b1_b3_angles` (see `b_angles.py`): the MLP's angle against the layer
# must fit an exponential better than a power law, and the BN ResNet's angle must fall with a
# power exponent within 0.25 of -1. Both: reproduced; one: partly.

# %%
angles = load(RESULTS, "b1_b3_angles", "angles")
if angles is not None:
    synthetic = angles[(angles["stage"] == "init") & (angles["inputs"] == "synthetic")]
    cos0 = synthetic["cos0"].round(6).min()
    rows = []
    for arch in ("mlp", "resnet_bn"):
        part = synthetic[(synthetic["arch"] == arch) & (synthetic["cos0"].round(6) == cos0)]
        curve = part.groupby("layer")["angle_mean"].mean()
        curve = curve[curve.index >= 1]
        if len(curve) < 3:
            continue
        exp = fit_law("exponential", curve.index, curve.to_numpy())
        power = fit_law("power", curve.index, curve.to_numpy())
        rows.append(
            {
                "arch": arch,
                "exp rmse": exp.rmse_log,
                "power rmse": power.rmse_log,
                "power exponent": power.params["exponent"],
            }
        )
    c1 = pd.DataFrame(rows).set_index("arch")
    show_table(c1, f"angle law fits, synthetic pairs with cos0 = {cos0:g}")
    if "mlp" in c1.index:  # the rule's fit of every draw (95% interval), found in the report
        name = f"cos0={cos0:g}"
        mlp_fit = fit_curve(
            pair_curves(angles, "mlp")[name], pair_curves(angles, "mlp", by_draw=True)[name]
        )
        check(RESULTS, "C1", f"tail exponent {mlp_fit.angle_exponent.text()}")

# %% [markdown]
# ## C2: the largest stable learning rate against depth
# Experiment `c2_max_lr_depth` (`task=lr_search`, `task.criterion=monotone`): full-batch gradient
# descent from the same initialization, bisection on "over 100 steps no step raises the loss by
# more than 0.1% and the final loss is not above the initial one": gradient descent's stability
# edge (a loss that rises and falls back is unstable). The same run computes lambda_max of the
# loss Hessian at the same init on the same examples (Lanczos): on a quadratic the edge is
# exactly 2 / lambda_max, so `edge_ratio = max_lr * lambda_max / 2` says how far the network's
# edge is from the quadratic model's. Quick profile: fully connected residual branches on the
# digits as 64-dim vectors (the conv form is the full profile's).
# The rule fits both laws to every seed's point (95% intervals; the tables here fit the medians):
# ResNet (He) must prefer the exponential with a rate whose interval is below 0; ResNet + BN
# must not prefer it, with a power exponent whose interval lies within -1 +- 1/2.

# %%
lr_all = load(RESULTS, "c2_max_lr_depth")
if lr_all is not None:
    lr = lr_all[lr_all["max_lr"] > 0]
    lr_medians = lr.pivot_table(index=DEPTH, columns="arm", values="max_lr", aggfunc="median")
    show_table(lr_medians, "median max_lr over seeds (rows: depth L)")
    lr_fits_table, lr_fits = law_table(lr_medians)
    show_table(lr_fits_table, "law fits")
    if "resnet_he" in lr_fits:  # the rule fits every seed's point (95% intervals)
        check(RESULTS, "C2", f"exp rate {fit_arm(lr, 'resnet_he', 'max_lr').rate.text(2)}/block")
    if "lambda_max" in lr.columns:
        ratio = lr.assign(edge_ratio=c_claims.edge_ratios(lr)).pivot_table(
            index=DEPTH, columns="arm", values="edge_ratio", aggfunc="median"
        )
        show_table(ratio, "max_lr * lambda_max / 2 (same runs): 1 is the quadratic model's edge")
        if "resnet_he" in ratio.columns:
            check(RESULTS, "C2", c_claims.edge_ratio_text(lr, "resnet_he"))
    show(c_plots.max_lr_figure(lr_all))

# %% [markdown]
# ## C3: the Fisher information's top eigenvalue against depth
# Experiment `c3_fisher_depth`: top eigenvalue (Lanczos) at initialization of the Gaussian-output
# Fisher J^T J / N of the logits (`fisher_gauss`: the Fisher analyses at random weights study;
# the one the rule grades) and, beside it, of the softmax model's true Fisher (`fisher_true`, the
# cross-entropy Gauss-Newton matrix). The MLP's power exponent must lie within +-1/2, the ResNet
# (He) must need the exponential with a positive rate, ResNet + BN must not need it and have a
# power exponent below 1. Runs where a Fisher is exactly 0 (a saturated softmax) have no
# logarithm: they are left out of the fits, counted here and in the verdict, and marked on the
# figure.

# %%
fisher = load(RESULTS, "c3_fisher_depth")
if fisher is not None:
    if "matrix" not in fisher.columns:
        fisher = fisher.assign(matrix="fisher_true")
    zeros = fisher.assign(zero=fisher["lambda_max"] <= 0).pivot_table(
        index="arm", columns="matrix", values="zero", aggfunc="sum"
    )
    show_table(zeros, "runs whose top eigenvalue is exactly 0")
    for matrix in sorted(fisher["matrix"].unique(), key=lambda m: m != c_claims.GRADED_FISHER):
        rows = fisher[(fisher["matrix"] == matrix) & (fisher["lambda_max"] > 0)]
        medians = rows.pivot_table(
            index=DEPTH, columns="arm", values="lambda_max", aggfunc="median"
        )
        show_table(medians, f"{matrix}: median top eigenvalue (rows: depth L)")
        fits_table, _ = law_table(medians)
        show_table(fits_table, f"{matrix}: law fits")
        if matrix == c_claims.GRADED_FISHER and "mlp_he" in fits_table.index:
            first, last = fits_table.loc["mlp_he", ["L=min", "L=max"]]
            check(RESULTS, "C3", f"mlp_he {first:.3g} -> {last:.3g}")
    show(c_plots.fisher_figure(fisher))

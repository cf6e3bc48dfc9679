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
# # B. Skip connections and BatchNorm keep inputs apart (claims B1-B5)
#
# Furusho & Ikeda (IBISML2019-16), randomly initialized MLP (ReLU, He), ResNet (no BN) and
# ResNet with BN (plus Fixup for reference):
#
# - **B1** the angle between two inputs' hidden features shrinks exponentially with depth in an
#   MLP; **B2** skip connections slow it to sub-exponential; **B3** BatchNorm slows it further
#   to about 1/l;
# - **B4** the MLP shrinks between-class distances more than within-class ones (the ratio
#   worsens layer by layer); skip and BN relieve this;
# - **B5** after training, angle-preserving architectures reach a larger ratio at the last hidden
#   layer and a better accuracy.
#
# Reads the collected CSVs only (`INITLAB_RESULTS`, default `results/quick`); never trains.

# %%
import pandas as pd
from _common import check, load, results_dir, show, show_table, verdicts
from scipy.stats import spearmanr

from initlab.analysis.laws import fit_law, replicate_interval
from initlab.papers.angles import figures as plots
from initlab.papers.angles import figures_distance as distance_plots
from initlab.papers.angles.claims import fit_curve, pair_curves, tail_layers
from initlab.papers.angles.claims_distance import EXPLODES, networks_of, profile_areas

RESULTS = results_dir()

# %% [markdown]
# ## Verdicts (claims registry)

# %%
table = verdicts(RESULTS, ("B1", "B2", "B3", "B4", "B5"))
show_table(table[["verdict", "scale"]])

# %% [markdown]
# ## B1-B3: angle against layer at initialization
# Experiment `b1_b3_angles` (`task=angle_stream`): pairs of synthetic inputs with a set
# initial cosine `cos0` and pairs of MNIST digits, pushed through 20 independent draws of each
# network (width 1024; 500 layers / blocks for the MLP and the ResNet, 200 blocks for the
# normalized ResNets and Fixup; each layer drawn when the forward reaches it); at log-spaced
# layers, the mean angle between the pair's features (`angles.csv`). On the TAIL,
# l >= max(10, L/10), two laws are fitted by least squares in log(angle): exponential (log y
# linear in l) and power (log y linear in log l, slope = the tail exponent). The rules fit every
# draw and decide by 95% t intervals over draws (below, the fit of the mean curve only). B1 asks
# the MLP to fit the exponential; B2 the ResNet to fit the power law and stay above the MLP;
# B3 the batch-statistics BN ResNet to have a tail exponent within 0.25 of -1. Dashed: the
# mean-field theory (arc-cosine map; residual recursion; Monte-Carlo batch recursion for BN).

# %%
angles = load(RESULTS, "b1_b3_angles", "angles")
curves, fits = {}, []
if angles is not None:
    init = angles[(angles["stage"] == "init") & angles["cos_mean"].notna()]
    synthetic = init[init["inputs"] == "synthetic"]
    cos0 = synthetic["cos0"].round(6).min()
    for arch in plots.archs_of(init):
        rows = synthetic[(synthetic["arch"] == arch) & (synthetic["cos0"].round(6) == cos0)]
        curve = rows.groupby("layer")[["angle_mean", "theory_angle"]].mean()
        curves[arch] = curve = curve[curve.index >= 1]
        tail = curve[tail_layers(curve.index.to_numpy(float))]
        layers, angle = tail.index.to_numpy(float), tail["angle_mean"].to_numpy()
        exp, power = fit_law("exponential", layers, angle), fit_law("power", layers, angle)
        fits.append(
            {
                "arch": arch,
                "angle l=1": curve["angle_mean"].iloc[0],
                "angle l=L": angle[-1],
                "exp rate /layer": exp.params["rate"],
                "exp rmse": exp.rmse_log,
                "power exponent": power.params["exponent"],
                "power rmse": power.rmse_log,
                "best law": "exponential" if exp.rmse_log < power.rmse_log else "power",
            }
        )
    fits = pd.DataFrame(fits).set_index("arch")
    show_table(fits, f"law fits of the mean angle on the tail, pairs with cos0 = {cos0:g}")
    # the rules fit every draw's curve (95% t intervals over draws), not these means: recompute
    # their fit of the same pairs from the CSV and find its text in the report
    name = f"cos0={cos0:g}"
    for claim_id, arch in (("B1", "mlp"), ("B2", "resnet"), ("B3", "resnet_bn")):
        if arch in fits.index:
            curve = pair_curves(init, arch)[name]
            by_draw = pair_curves(init, arch, by_draw=True)[name]
            check(RESULTS, claim_id, fit_curve(curve, by_draw).describe())

# %% [markdown]
# The report's figures: all networks together for the most and least different synthetic pairs
# and the data pairs, then every pair set network by network (theory dashed where it exists).

# %%
if curves:
    show(plots.arch_figure(angles))
    show(plots.layer_figure(angles, "angle"))

# %% [markdown]
# ## B4: between- / within-class distance ratio through depth
# Experiment `b4_distance_ratio`: on data points, the mean distance between features of
# different classes over the mean distance within a class, r_l, at every layer (layer 0: the
# inputs), for 20 draws per network. The rule reads the whole profile: per draw the area
# A = trapezoid mean over l = 1..L of log(r_l / r_0) (< 0: the ratio worsens over depth), with
# 95% t intervals over draws; the MLP's must lie below 0, and the ResNet's and BN ResNet's above
# the MLP's (Welch intervals).

# %%
ratios = load(RESULTS, "b4_distance_ratio", "angles")
if ratios is not None:
    areas = profile_areas(ratios)
    table = areas.groupby(["data_name", "arch"])[["area", "early", "late", "last"]].mean()
    show_table(table, "per-draw profile statistics, mean over draws (area < 0: worsens)")
    first = areas[(areas.data_name == sorted(areas.data_name.unique())[0])]
    mlp = replicate_interval(first[first.arch == "mlp"].area.to_numpy(), what="draws")
    check(RESULTS, "B4", f"mlp area {mlp.text()}")
    show(distance_plots.ratio_figure(ratios))

# %% [markdown]
# ## B5: the ratio after training
# Experiment `b5_trained_ratio`: each network trained for the same budget; `draws.csv` holds, per
# draw, the angle of data pairs at the last layer at init, the ratio at the last hidden layer
# before and after training, and the test accuracy. The rule: Spearman's rho over networks (their
# draws averaged) of the init angle against the trained ratio and against the test accuracy, with
# the exact permutation p, over the networks whose forward variance does not explode (the He
# ResNet without normalization grows as 3^L and fails to train for that reason).

# %%
draws = load(RESULTS, "b5_trained_ratio", "draws")
if draws is not None:
    nets = networks_of(draws, load(RESULTS, "b5_trained_ratio", "angles"))
    show_table(nets, "last hidden layer, mean over draws; growth: forward second moment L / input")
    bounded = nets[~(nets.growth > EXPLODES)]
    if len(bounded) >= 3:
        rho_acc = spearmanr(bounded.angle_init, bounded.accuracy).statistic
        print(f"Spearman (init angle, test acc) over {len(bounded)} networks: {rho_acc:.2f}")
        check(RESULTS, "B5", f"vs test accuracy rho {rho_acc:.2f}")
    show(distance_plots.trained_figure(draws, nets))

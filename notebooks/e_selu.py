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
# # E. Self-Normalizing Neural Networks (claims E1-E6)
#
# Klambauer et al., NeurIPS 2017.
#
# - **E1** alpha01 ~ 1.6733, lambda01 ~ 1.0507 give the SELU mean/variance map g the fixed point
#   (mu, nu) = (0, 1) (weights with sum omega = 0, squared sum tau = 1), derived numerically;
# - **E2** Theorems 1-3: g contracts near (0, 1); the variance shrinks when large, grows when
#   small;
# - **E3** LeCun-normal SNNs (with alpha-dropout) keep activations at mean 0, variance 1 through
#   depth, while ReLU/tanh networks drift;
# - **E4-E6** benchmarks: UCI-121 ranks, Tox21 / HTRU2 AUC, SELU CNNs on MNIST / CIFAR-10.
#
# Reads the collected CSVs only (`INITLAB_RESULTS`, default `results/quick`); never trains.

# %%
import pandas as pd
from _common import ROOT, check, load, results_dir, show, show_table, verdicts

from initlab.claims import all_claims
from initlab.claims.selu import E3_MEAN_TOL, E3_VAR_TOL, PAPER_ALPHA01, PAPER_LAMBDA01
from initlab.report.plots import selu as plots
from initlab.theory.selu import selu_mean_variance

RESULTS = results_dir()

# %% [markdown]
# ## Verdicts (claims registry)

# %%
table = verdicts(RESULTS, ("E1", "E2", "E3", "E4", "E5", "E6"))
show_table(table[["verdict", "scale"]])

# %% [markdown]
# ## E1: alpha01 and lambda01
# Experiment `e1_e2_selu_theory` (`task=selu_theory`): the constants solved from
# g(0, 1) = (0, 1) with the closed-form Gaussian moments (brentq, float64), and again from the
# analytic expressions. The rule compares them with the paper's printed digits (relative
# difference at most 1e-12) and requires |g(0, 1) - (0, 1)| <= 1e-10. Below, g is evaluated
# once more at (0, 1) with the constants read from the CSV (a closed form, no training).

# %%
constants = load(RESULTS, "e1_e2_selu_theory", "selu_constants")
if constants is not None:
    values = dict(zip(constants["quantity"], constants["value"], strict=True))
    paper = {"alpha01": PAPER_ALPHA01, "lambda01": PAPER_LAMBDA01}
    rows = [
        {
            "quantity": q,
            "solved": repr(values[q]),
            "paper": repr(paper[q]),
            "relative difference": abs(values[q] - paper[q]) / paper[q],
        }
        for q in ("alpha01", "lambda01")
    ]
    show_table(pd.DataFrame(rows).set_index("quantity"), "solved vs printed constants")
    mu, nu = selu_mean_variance(0.0, 0.0, 1.0, 1.0, values["lambda01"], values["alpha01"])
    print(f"g(0, 1) with the solved constants = ({float(mu):.3e}, {float(nu):.15f})")
    check(RESULTS, "E1", f"alpha01={values['alpha01']!r}")

# %% [markdown]
# ## E2: Theorems 1-3 on a grid
# Same experiment, `selu_theorems.csv`: each theorem's domain is sampled on a dense grid of
# (mu, omega, nu, tau). Theorem 1 holds if the largest spectral norm of g's Jacobian is below 1,
# g maps the domain into itself and its fixed points lie in the paper's intervals; Theorem 2 if
# the variance always decreases (max of nu~ - nu < 0) for nu in [3, 16]; Theorem 3 if it always
# increases (min > 0) for nu in [0.02, 0.16]. The vector field is g's step at omega = 0, tau = 1.

# %%
theorems = load(RESULTS, "e1_e2_selu_theory", "selu_theorems")
if theorems is not None:
    wanted = (
        "max_spectral_norm",
        "maps_into_domain",
        "fixed_point_mu_min",
        "fixed_point_mu_max",
        "fixed_point_nu_min",
        "fixed_point_nu_max",
        "max_variance_change",
        "min_variance_change",
        "holds",
    )
    part = theorems[theorems["quantity"].isin(wanted)]
    show_table(part.pivot_table(index="quantity", columns="theorem", values="value"), "theorems")
    norm = part[(part["theorem"] == 1) & (part["quantity"] == "max_spectral_norm")]["value"]
    if len(norm):
        check(RESULTS, "E2", f"max ||J|| = {norm.iloc[0]:.4f}")

# %%
field = load(RESULTS, "e1_e2_selu_theory", "selu_vector_field")
if field is not None:
    show(plots.vector_field_figure(field))

# %% [markdown]
# ## E3: activations through deep networks at initialization
# Experiment `e3_activation_stats` (`task=activation_stats`): mean and variance over units and
# examples of the pre- and post-activations at every layer of SNNs (SELU, LeCun normal, with and
# without alpha-dropout) and of ReLU + He, tanh + Xavier and ReLU + BatchNorm networks. The rule:
# every SNN post-activation stays within mean 0 +- 0.1 and variance 1 +- 0.25 at every layer, and
# every ReLU/tanh run leaves that band by its last layer (ReLU + BN is shown, not judged).

# %%
activations = load(RESULTS, "e3_activation_stats", "activations")
if activations is not None:
    post = activations[activations["kind"] == "post"]
    last = post[post["layer"] == post.groupby("run")["layer"].transform("max")]
    band = post.assign(mean_dev=post["mean"].abs(), var_dev=(post["var"] - 1.0).abs())
    stats = pd.DataFrame(
        {
            "last-layer mean": last.groupby("e3_net")["mean"].mean(),
            "last-layer var": last.groupby("e3_net")["var"].mean(),
            "max |mean|": band.groupby("e3_net")["mean_dev"].max(),
            "max |var - 1|": band.groupby("e3_net")["var_dev"].max(),
        }
    )
    stats["inside the band everywhere"] = (stats["max |mean|"] <= E3_MEAN_TOL) & (
        stats["max |var - 1|"] <= E3_VAR_TOL
    )
    show_table(stats, "post-activations (mean over seeds at the last layer; max over layers)")
    snn = band[band["e3_net"].isin(("snn", "snn_alpha_dropout"))]
    if not snn.empty:
        check(RESULTS, "E3", f"SNN max |mean| {snn['mean_dev'].max():.3f}")

# %% [markdown]
# First the post-activations with the rule's band shaded (mean over seeds), then the report's
# figure: pre- and post-activations of the deepest runs, line: seed mean, band: min-max.

# %%
if activations is not None:
    show(plots.activation_band_figure(activations))
    show(plots.activation_stats_figure(activations))

# %% [markdown]
# ## E4-E6: the benchmarks
# UCI-121 ranks (E4), Tox21 / HTRU2 AUC (E5) and the SELU CNNs (E6) need the real data sets and
# training at scale. As long as no experiment feeds them their verdict is `not run yet`; the cell
# below says what exists: the rule and experiment attached to each claim, the experiment configs
# under `conf/experiment/` and any collected results, whose summary it shows.

# %%
claims = {c.id: c for c in all_claims()}
DATA_SETS = {"E4": ("uci121",), "E5": ("tox21", "htru2"), "E6": ("mnist", "cifar10")}
for claim_id in ("E4", "E5", "E6"):
    claim = claims[claim_id]
    prefix = claim_id.lower()
    configs = sorted(p.name for p in (ROOT / "conf" / "experiment").glob(f"{prefix}*.yaml"))
    folders = sorted(p for p in RESULTS.glob(f"{prefix}*") if p.is_dir())
    if claim.experiment and (RESULTS / claim.experiment).is_dir():
        folders = sorted({*folders, RESULTS / claim.experiment})
    print(f"\n{claim_id}: {claim.statement}")
    print(
        f"  verdict: {claim.verdict(RESULTS).status}; rule attached: {claim.rule is not None}; "
        f"experiment: {claim.experiment or 'none yet'}"
    )
    print(f"  configs: {', '.join(configs) or 'none yet'}")
    loaders = [d for d in DATA_SETS[claim_id] if (ROOT / "conf" / "data" / f"{d}.yaml").exists()]
    print(f"  data loaders (conf/data): {', '.join(loaders) or 'none yet'}")
    if not folders:
        print(f"  results: none under {RESULTS}")
    for folder in folders:
        print(f"  results in {folder}: {', '.join(sorted(p.name for p in folder.glob('*.csv')))}")
        summary = load(RESULTS, folder.name, completed=False)
        if summary is not None:
            show_table(summary.head(20), f"{folder.name}/summary.csv (first rows)")

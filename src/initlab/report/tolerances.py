"""Which numbers are exact and which need a tolerance, in one place (``docs/determinism.md``).

**One machine.** The same config and seed give the same numbers, bit for bit (tested by
``tests/foundation/test_training_runs.py::test_same_config_and_seed_give_same_numbers``), and the
same CSVs give the same report, tables and figure data on any CPU
(``tests/foundation/test_render_determinism.py``).

**Across machines** (another CPU, another instruction set: the kernels of torch and numpy
round differently), a re-run's collected CSVs match the committed ones within the tolerance of
each column's family below, and no verdict may flip within it (the test perturbs the committed
CSVs by these tolerances and re-renders). A family's tolerance is the largest drift observed
between two CPU instances (issue 32) where one was observed, else a bound stated with its reason:

| family     | tolerance                 | columns (examples)                                      |
| ---------- | ------------------------- | ------------------------------------------------------- |
| theory     | 1e-14 relative            | float64 closed forms and solves (SELU, angle theory)    |
| analysis   | 1e-8 relative             | Hessian / Fisher eigenvalues, SLQ, Hessian block maxima |
| statistics | 1e-2 relative             | losses, activation statistics, angles, variances        |
|            |                           | the Lanczos history's Ritz values (unconverged early on)|
| score      | 1/64 absolute (in [0, 1]) | accuracies, selected models' val / test scores          |
| bisection  | one grid step (15.5%)     | C2's largest learning rate and its bracket              |
| exact      | 0                         | recorded keys, counts, steps, config values, outcomes   |
| volatile   | never compared            | timings and memory (no claim reads them)                |

:data:`COLUMNS` maps every numeric column of a collected CSV to its family (a test requires that
each one is listed); tables written by ``make report`` (:data:`DERIVED_TABLES`) are recomputed
from those, never compared.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """How far a value re-measured on another machine may be from the committed one:
    ``|new - old| <= abs + rel * |old|``."""

    family: str
    rel: float = 0.0
    abs: float = 0.0
    #: values of the family lie in [low, high] (scores are fractions)
    low: float = float("-inf")
    high: float = float("inf")
    basis: str = ""

    def allows(self, old: float, new: float) -> bool:
        return abs(new - old) <= self.abs + self.rel * abs(old)


THEORY = Tolerance(
    "theory",
    rel=1e-14,
    basis="not observed across machines; float64 closed forms, quadratures and root solves "
    "differ by a few ulps (~1e-16) between math libraries, and 1e-14 leaves a margin of 100",
)
ANALYSIS = Tolerance(
    "analysis",
    rel=1e-8,
    basis="Hessian eigenvalues moved by ~1e-8 relative between two CPU instances (E4/A1 "
    "re-runs, issue 32); the other quantities of the Hessian and Fisher tasks share it",
)
STATISTICS = Tolerance(
    "statistics",
    rel=1e-2,
    basis="E3's deep BatchNorm activation variances moved by up to 1e-2 relative between two "
    "CPU instances (issue 32): the largest relative drift observed, taken for every float32 "
    "forward or training statistic",
)
SCORE = Tolerance(
    "score",
    abs=1 / 64,
    low=0.0,
    high=1.0,
    basis="E4's model selections changed test scores by 1/64 between two CPU instances (issue 32)",
)
#: C2's grid: 16 learning rates a decade (lr_bracket_high / lr_bracket_low = 10^(1/16))
LR_GRID_STEP = 10 ** (1 / 16)
BISECTION = Tolerance(
    "bisection",
    rel=LR_GRID_STEP - 1,
    basis="not observed across machines; a bisection's result can only move by whole steps "
    "of its grid (a probe whose divergence decision flips), so one step is the stated bound",
)
EXACT = Tolerance("exact", basis="recorded keys, counts, steps and config values: never drift")
VOLATILE = Tolerance("volatile", basis="timings and memory: never compared, no claim reads them")

#: figure data (``*.figure.json``) recomputed from the same CSVs on another CPU: numpy's SIMD
#: exp/log differ in the last bits (~1e-16 relative); 1e-9 is far above that noise and far below
#: anything a reader could see
FIGURE_RTOL = 1e-9
#: absolute floor of the same comparison, for values that are 0 up to rounding
FIGURE_ATOL = 1e-12

_FAMILIES: dict[Tolerance, str] = {
    ANALYSIS: """
        eigenvalue residual rel_residual lambda_max lambda_max_residual lambda_min
        lambda_min_residual trace trace_se slq_mean slq_m2 node weight abs_max abs_mean loss
        grad_norm rel_max hessian_scale smallest_nonzero_rel
        edge_lr
    """,
    THEORY: """
        theory_cos theory_angle a b alpha_prime value dmu dnu lambda01 alpha01
        theorem1_max_spectral_norm theorem2_max_variance_change theorem3_min_variance_change
    """,
    STATISTICS: """
        cos_mean cos_std angle_mean angle_std one_minus_cos_mean within between ratio angle_float64
        log10_second_moment
        second_moment angle_last_data angle_last_synthetic ratio_input ratio_last
        init_angle_last_data init_angle_last_synthetic init_ratio_input init_ratio_last
        trained_angle_last_data trained_angle_last_synthetic trained_ratio_input
        trained_ratio_last train_batch_loss train_loss val_loss test_loss first_loss final_loss
        max_loss initial_loss loss_at_divergence train_l1 train_kl train_elbo val_l1 val_kl
        val_elbo test_l1 test_kl test_elbo variance mean var unit_mean_std post_mean_last
        post_var_last post_max_abs_mean post_max_abs_var_minus_1 pre_mean_last pre_var_last
        pre_max_abs_mean pre_max_abs_var_minus_1 max_increase
        ritz_max ritz_min
    """,
    SCORE: """
        train_accuracy val_accuracy test_accuracy init_test_accuracy trained_test_accuracy
        val_score test_score val_score_smoothed svm_val_score svm_test_score
        random_forest_val_score random_forest_test_score gradient_boosting_val_score
        gradient_boosting_test_score logreg_val_score logreg_test_score knn_val_score
        knn_test_score
    """,
    BISECTION: "max_lr lr_bracket_low lr_bracket_high edge_ratio",
    EXACT: """
        model.depth seed index params samples hvps lanczos_iterations converged trace_probes
        probe row_index col_index row_offset col_offset row_size col_size zero tensors blocks
        zero_blocks zero_block_fraction zero_entry_fraction cell_row cell_col row0 row1 col0 col1
        optim.lr step epoch lr steps epochs depth width measure_batch_size draw layer n_pairs
        draw_seed train_status layers diverged probes stage fan_in he_variance rate keep_rate
        theorem grid_points mu nu theorem2_holds theorem3_holds member members diverged_members
        selected_member selected_epoch tied_members model.dropout model.bottleneck
        diverged_at_step train_examples heldout_examples cos0 rows model.width data.fold
        model.block_shape optim.weight_decay passed work_scale full_steps full_eval_examples
        full_batch task.input_mean task.input_var units data.seed draws measured_layers
        exact_zero exact_zero_blocks exact_zero_block_fraction zero_threshold
        position settled pdi_settled_at
        lanczos_converged
    """,
    # float64_max_abs_angle_diff: a rounding-level difference (~1e-6 rad), a machine's own;
    # largest_zero_rel: the largest round-off left in a block counted zero (~1e-17), shown
    # beside A3's threshold, never decided on
    VOLATILE: """
        timed_steps seconds_per_step peak_rss_mb wall_time_s seconds est_full_seconds
        seconds_per_draw theory_seconds float64_max_abs_angle_diff largest_zero_rel
    """,
}
#: numeric column of a collected CSV -> its tolerance
COLUMNS: dict[str, Tolerance] = {
    column: tolerance for tolerance, names in _FAMILIES.items() for column in names.split()
}
#: long tables (``quantity``, ``value``): quantities whose value is a flag or a grid point
EXACT_QUANTITIES = frozenset(
    {"maps_into_domain", "holds", "worst_mu", "worst_omega", "worst_nu", "worst_tau"}
)
#: tables ``make report`` writes from the collected ones (recomputed, never compared)
DERIVED_TABLES = frozenset(
    {
        "d2_pdi_vae/l1_table.csv",
        "e4_uci_fnn/comparisons.csv",
        "e4_uci_fnn/ranks.csv",
        "e4_uci_fnn/scores_by_split.csv",
        "e4_uci_fnn/wilcoxon.csv",
        "e6_selu_cnn/accuracy_table.csv",
    }
)


def tolerance(column: str, quantity: str | None = None) -> Tolerance:
    """The tolerance of a numeric column (of the row naming ``quantity`` in a long table);
    KeyError for a column no family lists."""
    if column == "value" and quantity in EXACT_QUANTITIES:
        return EXACT
    return COLUMNS[column]

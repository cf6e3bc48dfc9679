"""``task=selu_theory``: SELU constants, Theorems 1-3 on grids and g's vector field (E1, E2).

Pure theory (:mod:`initlab.theory.selu`): the composed model and data are not used. Tables in
the run directory:

- ``selu_constants.csv``: lambda01 / alpha01 from the solver and from the closed form, and the
  residual of g at (0, 1); values are written with ``repr`` (all digits of a float64).
- ``alpha_dropout.csv``: a, b and alpha' of alpha-dropout for each configured dropout rate.
- ``selu_theorems.csv``: one row per (theorem, quantity) measured on the grids.
- ``selu_vector_field.csv``: (mu, nu) -> g(mu, nu) - (mu, nu) at omega = 0, tau = 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.theory import selu as th
from initlab.tracking import Progress, atomic_write_text


@dataclass(kw_only=True)
class SeluTheoryConfig(TaskConfig):
    grid_points: int = spec(min=2, help="points per axis of (mu, omega, nu, tau), Theorem 1")
    variance_grid_points: int = spec(min=2, help="points per axis for Theorems 2 and 3")
    fixed_point_grid_points: int = spec(min=2, help="points per axis of the fixed-point scan")
    dropout_rates: list[float] = spec(min=0.0, max=0.99, help="alpha-dropout rates 1 - q")
    field_points: int = spec(min=2, help="points per axis of the vector field")
    field_mu: list[float] = spec(help="[low, high] of mu in the vector field")
    field_nu: list[float] = spec(min=0.0, min_exclusive=True, help="[low, high] of nu")

    def validate(self) -> None:
        for key in ("field_mu", "field_nu"):
            low_high = getattr(self, key)
            if len(low_high) != 2 or low_high[0] >= low_high[1]:
                raise ConfigError(f"{key}: expected [low, high] with low < high, got {low_high}")


def _write(run: Run, name: str, rows: list[dict[str, Any]] | pd.DataFrame) -> None:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    atomic_write_text(run.out_dir / name, frame.to_csv(index=False))


def _constants() -> list[dict[str, Any]]:
    lam, alpha = th.solve_selu_parameters()
    lam_cf, alpha_cf = th.selu01_closed_form()
    mu_t, nu_t = th.selu_mean_variance(0.0, 0.0, 1.0, 1.0, lam, alpha)
    residual = max(abs(float(mu_t)), abs(float(nu_t) - 1.0))
    values = {
        "lambda01": lam,
        "alpha01": alpha,
        "lambda01_closed_form": lam_cf,
        "alpha01_closed_form": alpha_cf,
        "fixed_point_residual": residual,
    }
    return [{"quantity": k, "value": repr(float(v))} for k, v in values.items()]


def _theorem_rows(cfg: SeluTheoryConfig, progress: Progress) -> list[dict[str, Any]]:
    t1 = th.check_theorem1(cfg.grid_points, fixed_point_grid_points=cfg.fixed_point_grid_points)
    progress.update(note="theorem 1")
    t2 = th.check_theorem2(cfg.variance_grid_points)
    progress.update(note="theorem 2")
    t3 = th.check_theorem3(cfg.variance_grid_points)
    progress.update(note="theorem 3")
    one = {
        "max_spectral_norm": t1.max_spectral_norm,
        "mu_tilde_min": t1.mu_tilde_range[0],
        "mu_tilde_max": t1.mu_tilde_range[1],
        "nu_tilde_min": t1.nu_tilde_range[0],
        "nu_tilde_max": t1.nu_tilde_range[1],
        "nu_tilde_decoupled_min": t1.nu_tilde_decoupled_bound[0],
        "nu_tilde_decoupled_max": t1.nu_tilde_decoupled_bound[1],
        "fixed_point_mu_min": t1.fixed_point_mu_range[0],
        "fixed_point_mu_max": t1.fixed_point_mu_range[1],
        "fixed_point_nu_min": t1.fixed_point_nu_range[0],
        "fixed_point_nu_max": t1.fixed_point_nu_range[1],
        "fixed_point_mu_at_omega0_tau1": t1.fixed_point_at_omega0_tau1[0],
        "fixed_point_nu_at_omega0_tau1": t1.fixed_point_at_omega0_tau1[1],
        "max_distance_after_iteration": t1.max_distance_after_iteration,
        "maps_into_domain": float(t1.maps_into_domain),
    }
    rows = [
        {"theorem": 1, "quantity": k, "value": v, "grid_points": cfg.grid_points}
        for k, v in one.items()
    ]
    for check, name in ((t2, "max_variance_change"), (t3, "min_variance_change")):
        values = {
            name: check.worst_change,
            "worst_ratio": check.worst_ratio,
            "holds": float(check.holds),
            **{f"worst_{k}": v for k, v in check.worst_point.items()},
        }
        rows += [
            {"theorem": check.theorem, "quantity": k, "value": v, "grid_points": check.grid_points}
            for k, v in values.items()
        ]
    return rows


@TASKS.register("selu_theory", SeluTheoryConfig)
def selu_theory_task(
    cfg: SeluTheoryConfig, setup: RunSetup, data: DataBundle, run: Run
) -> TaskResult:
    # five parts: constants and alpha-dropout, Theorems 1, 2 and 3, the vector field
    progress = Progress(5, "selu theory", unit="part")
    constants = _constants()
    _write(run, "selu_constants.csv", constants)
    dropout = []
    for rate in cfg.dropout_rates:
        a, b, alpha_prime = th.alpha_dropout_affine(1.0 - rate)
        dropout.append(
            {"rate": rate, "keep_rate": 1.0 - rate, "a": a, "b": b, "alpha_prime": alpha_prime}
        )
    _write(run, "alpha_dropout.csv", dropout)
    progress.update(note="constants")
    theorems = _theorem_rows(cfg, progress)
    _write(run, "selu_theorems.csv", theorems)
    mu, nu, dmu, dnu = th.vector_field(
        np.linspace(*cfg.field_mu, cfg.field_points), np.linspace(*cfg.field_nu, cfg.field_points)
    )
    field = pd.DataFrame(
        {"mu": mu.ravel(), "nu": nu.ravel(), "dmu": dmu.ravel(), "dnu": dnu.ravel()}
    )
    _write(run, "selu_vector_field.csv", field)
    progress.update(note="vector field")
    progress.close()
    metrics = {row["quantity"]: float(row["value"]) for row in constants[:2]}
    metrics |= {
        f"theorem{row['theorem']}_{row['quantity']}": row["value"]
        for row in theorems
        if row["quantity"]
        in ("max_spectral_norm", "max_variance_change", "min_variance_change", "holds")
    }
    return TaskResult("completed", metrics)

"""Verdict rules E1-E3 on small CSVs written here: one set that should pass, one that should not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from initlab.claims import CLAIMS, all_claims
from initlab.papers.snn.claims_theory import (
    E3_EXP,
    THEORY_EXP,
    e1_constants,
    e2_theorems,
    e3_activations,
    e3_band,
)
from initlab.theory.selu import check_theorem1, check_theorem2, check_theorem3, selu01


def _write_theory(root: Path, lam: float, alpha: float, thm3_change: float) -> None:
    base = root / THEORY_EXP
    base.mkdir(parents=True)
    constants = pd.DataFrame(
        {
            "run": "0",
            "status": "completed",
            "quantity": ["lambda01", "alpha01", "fixed_point_residual"],
            "value": [repr(lam), repr(alpha), "0.0"],
        }
    )
    constants.to_csv(base / "selu_constants.csv", index=False)
    t1 = check_theorem1(5, fixed_point_grid_points=3)
    rows = [
        (1, "max_spectral_norm", t1.max_spectral_norm),
        (1, "maps_into_domain", 1.0),
        (1, "mu_tilde_min", t1.mu_tilde_range[0]),
        (1, "mu_tilde_max", t1.mu_tilde_range[1]),
        (1, "nu_tilde_min", t1.nu_tilde_range[0]),
        (1, "nu_tilde_max", t1.nu_tilde_range[1]),
        (1, "nu_tilde_decoupled_min", t1.nu_tilde_decoupled_bound[0]),
        (1, "nu_tilde_decoupled_max", t1.nu_tilde_decoupled_bound[1]),
        (1, "fixed_point_mu_min", t1.fixed_point_mu_range[0]),
        (1, "fixed_point_mu_max", t1.fixed_point_mu_range[1]),
        (1, "fixed_point_nu_min", t1.fixed_point_nu_range[0]),
        (1, "fixed_point_nu_max", t1.fixed_point_nu_range[1]),
        (2, "max_variance_change", check_theorem2(5).worst_change),
        (3, "min_variance_change", thm3_change),
    ]
    theorems = pd.DataFrame(rows, columns=["theorem", "quantity", "value"])
    theorems.insert(0, "status", "completed")
    theorems["grid_points"] = 5
    theorems.to_csv(base / "selu_theorems.csv", index=False)


def test_e1_e2_pass_on_computed_values(tmp_path) -> None:
    lam, alpha = selu01()
    _write_theory(tmp_path, lam, alpha, check_theorem3(5).worst_change)
    v1, v2 = e1_constants(tmp_path, "quick"), e2_theorems(tmp_path, "quick")
    assert v1.status == "reproduced", v1.measured
    assert v2.status == "reproduced", v2.measured
    assert "0.8976" in v2.measured or "max ||J||" in v2.measured


def test_e1_e2_fail_on_wrong_values(tmp_path) -> None:
    lam, alpha = selu01()
    # alpha off in the 9th digit: not the paper's constant; Theorem 3's sign flipped
    _write_theory(tmp_path, lam, alpha * (1 + 1e-9), -0.01)
    assert e1_constants(tmp_path, "quick").status == "contradicted"
    assert e2_theorems(tmp_path, "quick").status == "partly"


E3_STARTS = ((0.0, 1.0), (1.0, 1.0), (0.0, 4.0))


def _write_e3(
    root: Path,
    snn_var: float,
    relu_mean: float,
    relu_var: float,
    bad_seeds: tuple[int, ...] = (0, 1, 2),
    starts: tuple[tuple[float, float], ...] = E3_STARTS,
) -> None:
    """E3 CSV at width 256 (band +-0.1875 / +-0.265): every arm from every start, 3 seeds, 8
    layers; the SNN (no dropout) from (0, 4) ends at variance ``snn_var`` in ``bad_seeds``."""
    rows = []
    for net, mean, var in [
        ("snn", 0.01, 1.05),
        ("snn_alpha_dropout", -0.01, 1.02),
        ("relu_he", relu_mean, relu_var),
        ("tanh_xavier", 0.0, 0.01),
        ("relu_bn", 0.3, 0.4),
    ]:
        for m0, v0 in starts:
            for seed in (0, 1, 2):
                end_var = var
                if net == "snn" and (m0, v0) == (0.0, 4.0) and seed in bad_seeds:
                    end_var = snn_var
                for layer in range(1, 9):
                    w = 0.5**layer  # the start's offset decays with depth
                    for kind in ("pre", "post"):
                        v = end_var + w * (v0 - end_var) if net != "tanh_xavier" else 0.5 / layer
                        rows.append(
                            {
                                "run": f"{net}-{m0}-{v0}-{seed}",
                                "arm": f"e3_{net}",
                                "task.input_mean": m0,
                                "task.input_var": v0,
                                "seed": seed,
                                "status": "completed",
                                "layer": layer,
                                "kind": kind,
                                "mean": mean + w * (m0 - mean),
                                "var": v,
                                "unit_mean_std": 0.2,
                                "units": 256,
                            }
                        )
    (root / E3_EXP).mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / E3_EXP / "activations.csv", index=False)


def test_e3_band_from_width() -> None:
    assert e3_band(256) == pytest.approx((3 / 16, 3 * 2**0.5 / 16))
    assert e3_band(1024)[0] == pytest.approx(e3_band(256)[0] / 2)


@pytest.mark.parametrize(
    ("snn_var", "relu_mean", "relu_var", "bad_seeds", "expected"),
    [
        (1.05, 0.4, 0.5, (0, 1, 2), "reproduced"),
        (1.6, 0.4, 0.5, (0, 1, 2), "contradicted"),  # from (0, 4) the SNN ends outside: all seeds
        (1.6, 0.4, 0.5, (0,), "inconclusive"),  # ... in one seed of three
        (1.05, 0.0, 1.0, (0, 1, 2), "partly"),  # ReLU+He stays inside the band: no drift
    ],
)
def test_e3_rule(
    tmp_path,
    snn_var: float,
    relu_mean: float,
    relu_var: float,
    bad_seeds: tuple[int, ...],
    expected: str,
) -> None:
    _write_e3(tmp_path, snn_var, relu_mean, relu_var, bad_seeds)
    verdict = e3_activations(tmp_path, "quick")
    assert verdict.status == expected, verdict.measured
    assert len(verdict.summary) <= 140


def test_e3_rule_without_off_fixed_point_starts_is_inconclusive(tmp_path) -> None:
    _write_e3(tmp_path, 1.05, 0.4, 0.5, starts=((0.0, 1.0),))
    assert e3_activations(tmp_path, "quick").status == "inconclusive"


def test_e3_rule_leaving_the_fixed_point_contradicts(tmp_path) -> None:
    _write_e3(tmp_path, 1.05, 0.4, 0.5)
    path = tmp_path / E3_EXP / "activations.csv"
    frame = pd.read_csv(path)
    at_fp = (frame["arm"] == "e3_snn") & (frame["task.input_mean"] == 0.0)
    frame.loc[at_fp & (frame["task.input_var"] == 1.0), "mean"] = 0.5
    frame.to_csv(path, index=False)
    assert e3_activations(tmp_path, "quick").status == "contradicted"


def test_rules_are_attached_and_missing_results_read_not_run(tmp_path) -> None:
    all_claims()
    for claim_id in ("E1", "E2", "E3"):
        assert CLAIMS[claim_id].rule is not None
        verdict = CLAIMS[claim_id].verdict(tmp_path, "quick")
        assert verdict.status == "not run" and verdict.line == "not run yet"

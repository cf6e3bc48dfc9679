"""Verdict rules A1-A4 on small synthetic CSVs built to reproduce, to contradict and to
be inconclusive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from initlab.claims import all_claims
from initlab.papers.fixup_hessian.claims import (
    a1_fixup_sqrt,
    a2_he_exponential,
    a3_sparse_blocks,
)

DEPTHS = [1, 2, 4, 8, 16, 32]


def write(results: Path, experiment: str, rows: list[dict]) -> None:
    folder = results / experiment
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)


def depth_rows(curves: dict, column: str, seeds=(0, 1), depths=DEPTHS) -> list[dict]:
    """Rows of (arm, depth, seed) with ``column`` = curve(L) times a small seed-dependent jitter."""
    rows = []
    for arm, curve in curves.items():
        for depth in depths:
            for seed in seeds:
                value = curve(depth) * (1 + 0.02 * (seed - 0.5))
                rows.append(
                    {
                        "arm": arm,
                        "model.depth": depth,
                        "seed": seed,
                        "status": "completed",
                        column: value,
                    }
                )
    return rows


def test_a1_a2_pass_and_fail(tmp_path) -> None:
    good = tmp_path / "good" / "quick"
    write(
        good,
        "a1_a2_hessian_depth",
        depth_rows(
            {"resnet_fixup": lambda L: 0.7 * L**0.2, "resnet_he": lambda L: 3.0 * 2.0**L},
            "lambda_max",
        ),
    )
    assert a1_fixup_sqrt(good, "quick").status == "reproduced"
    assert a2_he_exponential(good, "quick").status == "reproduced"
    assert "exponent 0.2 [0.19, 0.21]" in a1_fixup_sqrt(good, "quick").measured
    bad = tmp_path / "bad" / "quick"
    write(
        bad,
        "a1_a2_hessian_depth",
        depth_rows(
            {"resnet_fixup": lambda L: np.exp(0.3 * L), "resnet_he": lambda L: 2.0 * L**0.3},
            "lambda_max",
        ),
    )
    a1, a2 = a1_fixup_sqrt(bad, "quick"), a2_he_exponential(bad, "quick")
    assert a1.status == "contradicted" and "faster than sqrt(L)" in a1.line, a1.line
    assert a2.status == "contradicted" and a2.line.startswith("power law, exponent 0.3"), a2.line
    middle = tmp_path / "mid" / "quick"
    write(
        middle,
        "a1_a2_hessian_depth",
        depth_rows({"resnet_fixup": lambda L: L**0.9, "resnet_he": lambda L: L**2}, "lambda_max"),
    )
    # L^0.9: at most linear, but the exponent lies wholly above 1/2: what falsifies A1
    assert a1_fixup_sqrt(middle, "quick").status == "contradicted"
    assert a2_he_exponential(middle, "quick").status == "partly"


def noisy_rows(arm: str, curve, column: str, sigma: float, seeds=range(3)) -> list[dict]:
    rng = np.random.default_rng(5)
    rows = depth_rows({arm: curve}, column, seeds=tuple(seeds))
    for row in rows:
        row[column] *= float(np.exp(rng.normal(0, sigma)))
    return rows


def test_a1_flips_when_the_interval_straddles_the_threshold(tmp_path) -> None:
    """The same true exponent 0.4 (< 1/2): reproduced when the scatter is small; when the seeds
    scatter so much that the exponents' intervals reach past 1/2 (but not past 1, the deep half's
    included) the sqrt bound is not reproduced (partly), and past 1 this scale cannot decide
    (inconclusive: the interval straddles 1/2, it does not lie above it)."""
    he = depth_rows({"resnet_he": lambda L: 3.0 * 2.0**L}, "lambda_max")
    for name, sigma, seeds, expected in (
        ("tight", 0.01, 3, "reproduced"),
        ("mid", 0.25, 5, "partly"),
        ("wide", 3.0, 3, "inconclusive"),
    ):
        folder = tmp_path / name
        rows = noisy_rows("resnet_fixup", lambda L: L**0.4, "lambda_max", sigma, range(seeds))
        write(folder, "a1_a2_hessian_depth", rows + he)
        verdict = a1_fixup_sqrt(folder, "quick")
        assert verdict.status == expected, verdict.measured
        assert "falsified by: a power exponent" in verdict.measured
    from initlab.papers.fixup_hessian.claims import fit_arm

    frame = pd.read_csv(tmp_path / "wide" / "a1_a2_hessian_depth" / "summary.csv")
    exponent = fit_arm(frame, "resnet_fixup", "lambda_max").exponent
    assert exponent.lo < 0.5 < exponent.hi and exponent.hi > 1.0
    assert exponent.value < 1.0  # the point estimate alone would have said "partly" or better


def test_a1_offset_plus_sqrt_is_reproduced_and_late_growth_falsifies(tmp_path) -> None:
    """c0 + c1 sqrt(L) is convex in log-log: the nested fit reads a positive exponential rate
    there, yet the law is the claimed one (reproduced: every exponent <= 1/2). A curve flat at
    the shallow end that grows like L^2 at the deep end has an all-depth exponent below 1/2
    but a deep-half exponent wholly above it: contradicted (what falsifies A1)."""
    from initlab.papers.fixup_hessian.claims import fit_arm

    he = {"resnet_he": lambda L: 3.0 * 2.0**L}
    offset = tmp_path / "offset"
    write(
        offset,
        "a1_a2_hessian_depth",
        depth_rows({"resnet_fixup": lambda L: 2.0 + 0.5 * np.sqrt(L), **he}, "lambda_max"),
    )
    frame = pd.read_csv(offset / "a1_a2_hessian_depth" / "summary.csv")
    assert fit_arm(frame, "resnet_fixup", "lambda_max").choice.rate.lo > 0  # nested: "exp"
    assert a1_fixup_sqrt(offset, "quick").status == "reproduced"
    late = tmp_path / "late"
    deep = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128]
    write(
        late,
        "a1_a2_hessian_depth",
        depth_rows({"resnet_fixup": lambda L: 50.0 + 0.01 * L**2, **he}, "lambda_max", depths=deep),
    )
    frame = pd.read_csv(late / "a1_a2_hessian_depth" / "summary.csv")
    assert fit_arm(frame, "resnet_fixup", "lambda_max").exponent.hi < 0.5  # all depths: slow
    verdict = a1_fixup_sqrt(late, "quick")
    assert verdict.status == "contradicted" and "faster than sqrt(L)" in verdict.line
    assert "L>=16" in verdict.line  # the deep half of 1..128: L >= sqrt(128)


def test_a2_reports_the_exponential_misfit_at_small_depths(tmp_path) -> None:
    """He-like: a power regime at small L times an exponential: the pure exponential misses
    L = 1, 2 by a large factor, the nested law L^p e^(rL) does not; both are reported."""
    write(
        tmp_path,
        "a1_a2_hessian_depth",
        depth_rows(
            {
                "resnet_fixup": lambda L: 1.0 + 0.0 * L,
                "resnet_he": lambda L: 20 * L**3 * np.exp(0.3 * L),
            },
            "lambda_max",
        ),
    )
    verdict = a2_he_exponential(tmp_path, "quick")
    assert verdict.status == "reproduced", verdict.measured
    misfit = verdict.measured.split("misfit at L = 1, 2 (median point / law): ")[1]
    pure = float(misfit.split("pure exponential x")[1].split(",")[0])
    nested = float(misfit.split("nested L^p e^(rL) x")[1])
    assert pure > 3.0 and nested == pytest.approx(1.0, abs=0.05)


def test_a1_needs_three_depths_and_data(tmp_path) -> None:
    rows = [
        r
        for r in depth_rows(
            {"resnet_fixup": lambda L: 1.0, "resnet_he": lambda L: 2.0**L}, "lambda_max"
        )
        if r["model.depth"] <= 2
    ]
    write(tmp_path, "a1_a2_hessian_depth", rows)
    verdict = a1_fixup_sqrt(tmp_path, "quick")
    assert verdict.status == "inconclusive" and "needs >= 3 depths" in verdict.line
    claim = next(c for c in all_claims() if c.id == "A1")
    nothing = claim.verdict(tmp_path / "nothing", "quick")
    assert nothing.status == "not run" and nothing.line == "not run yet"


def structure_rows(fixup, he, threshold=1e-11, smallest=1e-3) -> list[dict]:
    """One row per (arm, seed); ``fixup``/``he``: a fraction, or one per seed."""
    fixup = fixup if isinstance(fixup, list) else [fixup] * 3
    he = he if isinstance(he, list) else [he] * len(fixup)
    rows = []
    for arm, fractions in (("resnet_fixup", fixup), ("resnet_he", he)):
        for seed, fraction in enumerate(fractions):
            rows.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "status": "completed",
                    "params": 500,
                    "zero_block_fraction": fraction,
                    "exact_zero_block_fraction": fraction,
                    "zero_threshold": threshold,
                    "largest_zero_rel": 0.0,
                    "smallest_nonzero_rel": smallest,
                }
            )
    return rows


def test_a3_every_outcome(tmp_path) -> None:
    cases = (
        ("a", structure_rows(0.95, 0.0), "reproduced"),
        ("b", structure_rows(0.2, 0.0), "partly"),
        ("c", structure_rows(0.0, 0.0), "contradicted"),
        ("d", structure_rows([0.95, 0.95, 0.0], 0.1), "inconclusive"),  # seeds disagree
        # a non-zero block at 1e-7 x max|H|: below sqrt(1e-11), cancellation cannot be ruled out
        ("e", structure_rows(0.95, 0.0, smallest=1e-7), "inconclusive"),
        ("f", structure_rows([0.95, 0.4, 0.9], 0.0), "partly"),  # not most in every seed
    )
    for name, rows, expected in cases:
        write(tmp_path / name, "a3_hessian_structure", rows)
        verdict = a3_sparse_blocks(tmp_path / name, "quick")
        assert verdict.status == expected, (name, verdict.measured)
        assert "3 seed(s)" in verdict.line
    assert (
        "zero = block max <= 1e-11 x max|H|" in a3_sparse_blocks(tmp_path / "a", "quick").measured
    )
    assert "more precision decides" in a3_sparse_blocks(tmp_path / "e", "quick").line


def test_a3_threshold_counts_blocks_exact_zero_misses(tmp_path) -> None:
    """BatchNorm-like: no block exactly zero, but blocks at round-off (~1e-17 x max|H|) count
    as zero under the threshold: both counts are reported."""
    rows = structure_rows(0.95, 0.0)
    for seed in range(3):
        rows.append(
            {
                **rows[0],
                "arm": "resnet_bn",
                "seed": seed,
                "zero_block_fraction": 0.3,
                "exact_zero_block_fraction": 0.0,
                "largest_zero_rel": 2e-17,
            }
        )
    write(tmp_path, "a3_hessian_structure", rows)
    verdict = a3_sparse_blocks(tmp_path, "quick")
    assert "resnet_bn 0.300/0.300/0.300 (exactly 0: 0.000/0.000/0.000)" in verdict.measured
    assert "largest block counted zero 2e-17 x max|H|" in verdict.measured

"""The B1-B5 / C1 rules on small synthetic CSVs built to pass and to fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims import all_claims
from initlab.papers.angles.claims import ANGLES_EXP, RATIO_EXP, TRAINED_EXP

L = 100


def verdicts(results: Path) -> dict[str, str]:
    return {c.id: c.verdict(results, "quick").status for c in all_claims() if c.id in IDS}


IDS = ("B1", "B2", "B3", "B4", "B5", "C1")


def angle_rows(
    arch: str, angle_of_layer, data_name: str = "digits_flat", draws: int = 3, jitter=0.01
) -> pd.DataFrame:
    """``draws`` networks per arch: the law times a small per-layer jitter (the rules' intervals
    come from the spread between draws)."""
    layers = np.arange(L + 1)
    frames = []
    rng = np.random.default_rng(sum(map(ord, arch)))
    cases = (("synthetic", "0", 0.0), ("synthetic", "0.5", 0.5), ("data", "data", 0.3))
    for (inputs, group, cos0), draw in ((c, d) for c in cases for d in range(draws)):
        angle = np.asarray(angle_of_layer(np.maximum(layers, 1), cos0), dtype=float)
        angle = angle * np.exp(rng.normal(0, jitter, angle.shape))
        angle[0] = np.arccos(cos0)
        frames.append(
            pd.DataFrame(
                {
                    "status": "completed",
                    "arch": arch,
                    "data_name": data_name,
                    "depth": L,
                    "width": 64,
                    "stage": "init",
                    "inputs": inputs,
                    "draw": draw,
                    "layer": layers,
                    "group": group,
                    "cos0": cos0,
                    "cos_mean": np.cos(angle),
                    "angle_mean": angle,
                    "one_minus_cos_mean": 1 - np.cos(angle),
                    "theory_angle": np.nan,
                    "theory_cos": np.nan,
                    "ratio": np.nan,
                }
            )
        )
    return pd.concat(frames)


def write(results: Path, experiment: str, table: str, frame: pd.DataFrame) -> None:
    (results / experiment).mkdir(parents=True, exist_ok=True)
    frame.to_csv(results / experiment / f"{table}.csv", index=False)


def angles_as_claimed(results: Path) -> None:
    start = lambda c: np.arccos(c) if c < 0.99 else 0.1  # noqa: E731
    write(
        results,
        ANGLES_EXP,
        "angles",
        pd.concat(
            [
                angle_rows("mlp", lambda k, c: start(c) * np.exp(-0.1 * (k - 1))),
                angle_rows("resnet", lambda k, c: start(c) * k**-1.5),
                angle_rows("resnet_bn", lambda k, c: start(c) / k),
            ]
        ),
    )


def angles_not_as_claimed(results: Path) -> None:
    write(
        results,
        ANGLES_EXP,
        "angles",
        pd.concat(
            [
                angle_rows("mlp", lambda k, c: np.arccos(c) * 3 / (3 + k)),  # power law
                angle_rows("resnet", lambda k, c: np.arccos(c) * np.exp(-0.2 * k)),
                angle_rows("resnet_bn", lambda k, c: np.arccos(c) * np.exp(-0.3 * k)),
            ]
        ),
    )


def ratio_rows(arch: str, data_name: str, ratio_of_layer) -> pd.DataFrame:
    layers = np.arange(L + 1)
    return pd.DataFrame(
        {
            "status": "completed",
            "arch": arch,
            "data_name": data_name,
            "depth": L,
            "width": 64,
            "stage": "init",
            "inputs": "data",
            "draw": 0,
            "layer": layers,
            "ratio": ratio_of_layer(layers),
        }
    )


def write_ratios(results: Path, mlp, others) -> None:
    frames = []
    for data_name in ("digits_flat", "synthetic"):
        frames.append(ratio_rows("mlp", data_name, mlp))
        frames += [ratio_rows(a, data_name, others) for a in ("resnet", "resnet_bn")]
    write(results, RATIO_EXP, "angles", pd.concat(frames))


def write_draws(results: Path, acc_order: list[float], ratio_order: list[float]) -> None:
    rows = []
    for arch, angle, acc, ratio in zip(
        ("mlp", "resnet", "resnet_bn"), (0.1, 0.5, 1.2), acc_order, ratio_order, strict=True
    ):
        for draw in range(2):
            base = {"status": "completed", "arch": arch, "data_name": "d", "depth": L}
            base.update(width=64, draw=draw, angle_last_data=angle)
            rows.append({**base, "stage": "init", "ratio_last": 1.1, "test_accuracy": 0.1})
            rows.append({**base, "stage": "trained", "ratio_last": ratio, "test_accuracy": acc})
    write(results, TRAINED_EXP, "draws", pd.DataFrame(rows))


def test_rules_pass_on_data_that_shows_the_claims(tmp_path):
    angles_as_claimed(tmp_path)
    write_ratios(tmp_path, lambda k: 2.0 - 0.008 * k, lambda k: 2.0 - 0.001 * k)
    write_draws(tmp_path, [0.5, 0.7, 0.9], [1.2, 2.0, 3.0])
    assert verdicts(tmp_path) == {i: "reproduced" for i in IDS}


def test_rules_fail_on_data_that_contradicts_the_claims(tmp_path):
    angles_not_as_claimed(tmp_path)
    write_ratios(tmp_path, lambda k: 2.0 + 0.008 * k, lambda k: 2.0 - 0.001 * k)
    write_draws(tmp_path, [0.9, 0.7, 0.5], [3.0, 2.0, 1.2])
    found = verdicts(tmp_path)
    assert found == {i: "not reproduced" for i in IDS}, found


def test_rules_without_results_say_not_run_yet(tmp_path):
    assert set(verdicts(tmp_path).values()) == {"not run yet"}


def test_measured_line_carries_the_fit_numbers(tmp_path):
    angles_as_claimed(tmp_path)
    claim = next(c for c in all_claims() if c.id == "B1")
    verdict = claim.verdict(tmp_path, "quick")
    assert "exp rate -0.1 [" in verdict.measured and "power exponent" in verdict.measured
    assert "95% t interval over 3 draws" in verdict.measured


def test_b1_is_not_reproduced_when_the_draws_leave_the_law_undecided(tmp_path):
    """An exponential decay the draws scatter around so much that the RMSE difference's interval
    straddles 0: the point estimate favours the exponential, the rule does not."""
    start = lambda c: np.arccos(c)  # noqa: E731
    frames = [angle_rows("mlp", lambda k, c: start(c) * np.exp(-0.02 * k), jitter=0.6, draws=2)]
    frames += [angle_rows(a, lambda k, c: start(c) / k) for a in ("resnet", "resnet_bn")]
    write(tmp_path, ANGLES_EXP, "angles", pd.concat(frames))
    claim = next(c for c in all_claims() if c.id == "B1")
    verdict = claim.verdict(tmp_path, "quick")
    assert "(undecided)" in verdict.measured, verdict.measured
    assert verdict.status == "not reproduced"
    assert verdict.figure == f"{ANGLES_EXP}/angle_vs_layer.png"


def test_b3_names_which_normalization_gives_the_reciprocal_law(tmp_path):
    """True BN flat, the per-example scale-normalized ResNet ~ 1/l: partly, both reported."""
    start = lambda c: np.arccos(c)  # noqa: E731
    frames = [
        angle_rows("mlp", lambda k, c: start(c) * np.exp(-0.1 * (k - 1))),
        angle_rows("resnet", lambda k, c: start(c) * k**-1.5),
        angle_rows("resnet_bn", lambda k, c: start(c) + 0 * k),
        angle_rows("resnet_scale", lambda k, c: start(c) / k),
    ]
    write(tmp_path, ANGLES_EXP, "angles", pd.concat(frames))
    verdict = next(c for c in all_claims() if c.id == "B3").verdict(tmp_path, "quick")
    assert "per-example scale norm (resnet_scale)" in verdict.measured
    assert "angle exponent -0.999 [" in verdict.measured and "(1/l: True)" in verdict.measured
    assert verdict.status == "partly"

"""The B1-B3 / C1 rules on small synthetic CSVs built to reproduce, to contradict and to be
inconclusive (B4, B5: test_claims_distance.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims import CLAIMS, all_claims
from initlab.papers.angles.claims import ANGLES_EXP

L = 100


def verdicts(results: Path) -> dict[str, str]:
    return {c.id: c.verdict(results, "quick").status for c in all_claims() if c.id in IDS}


IDS = ("B1", "B2", "B3", "C1")


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


def test_rules_pass_on_data_that_shows_the_claims(tmp_path):
    angles_as_claimed(tmp_path)
    assert verdicts(tmp_path) == {i: "reproduced" for i in IDS}


def test_rules_fail_on_data_that_contradicts_the_claims(tmp_path):
    """B1-B3, C1: the laws found exclude the claimed ones."""
    angles_not_as_claimed(tmp_path)
    found = verdicts(tmp_path)
    assert found == {i: "contradicted" for i in IDS}, found
    b1 = CLAIMS["B1"].verdict(tmp_path, "quick")
    assert b1.line.startswith("power law (3/3 pair sets), tail exponent -0.9"), b1.line


def test_rules_without_results_say_not_run_yet(tmp_path):
    assert set(verdicts(tmp_path).values()) == {"not run"}
    assert {c.verdict(tmp_path, "quick").line for c in all_claims() if c.id in IDS} == {
        "not run yet"
    }


def test_measured_line_carries_the_fit_numbers(tmp_path):
    angles_as_claimed(tmp_path)
    claim = next(c for c in all_claims() if c.id == "B1")
    verdict = claim.verdict(tmp_path, "quick")
    assert "exp rate -0.1 [" in verdict.measured and "power exponent" in verdict.measured
    assert "95% t interval over 3 draws" in verdict.measured


def test_b1_is_inconclusive_when_the_draws_leave_the_law_undecided(tmp_path):
    """An exponential decay the draws scatter around so much that the RMSE difference's interval
    straddles 0 (no theory curve to decide): the point estimate favours the exponential, the
    rule does not, and says how many draws would decide."""
    start = lambda c: np.arccos(c)  # noqa: E731
    frames = [angle_rows("mlp", lambda k, c: start(c) * np.exp(-0.02 * k), jitter=0.6, draws=2)]
    frames += [angle_rows(a, lambda k, c: start(c) / k) for a in ("resnet", "resnet_bn")]
    write(tmp_path, ANGLES_EXP, "angles", pd.concat(frames))
    claim = next(c for c in all_claims() if c.id == "B1")
    verdict = claim.verdict(tmp_path, "quick")
    assert "(undecided)" in verdict.measured, verdict.measured
    assert verdict.status == "inconclusive"
    assert verdict.line.startswith("law undecided: rmse exp - power ") and "draws" in verdict.line
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
    assert "tail exponent -0.999 [" in verdict.measured and "(1/l: True)" in verdict.measured
    assert verdict.status == "partly"


def with_theory(frame: pd.DataFrame, theory_of_layer) -> pd.DataFrame:
    """``frame`` with a theory angle curve (the same for every draw)."""
    frame = frame.reset_index(drop=True)
    k = np.maximum(frame["layer"].to_numpy(), 1)
    frame["theory_angle"] = theory_of_layer(k, frame["cos0"].to_numpy())
    frame.loc[frame["layer"] == 0, "theory_angle"] = np.arccos(frame["cos0"])
    frame["theory_cos"] = np.cos(frame["theory_angle"])
    return frame


def test_b1_takes_the_law_on_which_theory_and_data_agree(tmp_path):
    """A power-law MLP (3 pi / (3 + l)) whose two noisy draws leave the RMSE interval straddling
    0: with its theory curve inside the draws' band and the best exponential outside it, the law
    is power and B1 is contradicted; without a theory curve it stays inconclusive."""
    law = lambda k, c: np.arccos(c) * 3 / (3 + k)  # noqa: E731
    mlp = angle_rows("mlp", law, draws=2, jitter=0.3)
    others = [angle_rows(a, lambda k, c: np.arccos(c) / k) for a in ("resnet", "resnet_bn")]
    write(tmp_path, ANGLES_EXP, "angles", pd.concat([mlp, *others]))
    bare = CLAIMS["B1"].verdict(tmp_path, "quick")
    write(tmp_path, ANGLES_EXP, "angles", pd.concat([with_theory(mlp, law), *others]))
    verdict = CLAIMS["B1"].verdict(tmp_path, "quick")
    assert "(undecided)" in verdict.measured  # the draws alone do not decide
    assert bare.status == "inconclusive", bare.line
    assert verdict.status == "contradicted", verdict.line
    assert "theory & data agree" in verdict.line, verdict.line
    assert "theory (power) in the draws' 95% band at 97/100 layers" in verdict.measured


def test_b2_b3_inconclusive_when_two_noisy_draws_cannot_decide(tmp_path):
    """ResNet and BN curves that two draws scatter around: the ResNet's law undecided (and its
    last angle about the MLP's, the Welch interval straddling 0: no check holds, none is
    against), the BN tail exponent's interval straddling the 1/l band's edge; each verdict says
    how many draws would decide."""
    frames = [
        angle_rows("mlp", lambda k, c: np.arccos(c) * k**-0.65),
        angle_rows("resnet", lambda k, c: np.arccos(c) * np.exp(-0.03 * k), jitter=0.6, draws=2),
        angle_rows("resnet_bn", lambda k, c: np.arccos(c) / k, jitter=0.6, draws=2),
    ]
    write(tmp_path, ANGLES_EXP, "angles", pd.concat(frames))
    b2, b3 = (CLAIMS[i].verdict(tmp_path, "quick") for i in ("B2", "B3"))
    assert b2.status == b3.status == "inconclusive", (b2.line, b3.line)
    assert b2.line.startswith("law undecided: rmse exp - power ") and "needs >= 6 draws" in b2.line
    assert "1/l not decided" in b3.line and "needs >= 6 draws" in b3.line

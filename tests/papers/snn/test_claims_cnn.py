"""E6 (CNNs with SELU vs ReLU): the verdict rule on synthetic summary CSVs, the arms' activation
and initialization, and the architectures of the paper-scale configs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from initlab.claims import CLAIMS, all_claims
from initlab.compose import CONF_DIR
from initlab.data import build_data
from initlab.inits.base import initialize
from initlab.models.base import build_model
from initlab.papers.snn.claims_cnn import (
    CIFAR_EXP,
    MAIN_EXP,
    TABLE,
    TEST_IMAGES,
    accuracy_table,
    compare,
    e6_selu_cnn,
    load_runs,
)
from initlab.setup import Setup, parse_config
from tests.conftest import quiet_config

SEEDS = 5
ROOT = Path(__file__).resolve().parents[2]


def _write(root: Path, experiment: str, data: str, selu: float, relu: float, spread: float):
    """A collected summary.csv: SEEDS runs per arm, accuracies (fractions) around the means."""
    rng = np.random.default_rng(0)
    rows = []
    for act, mean in (("selu", selu), ("relu", relu)):
        noise = rng.standard_normal(SEEDS)
        noise = (noise - noise.mean()) / noise.std(ddof=1)  # sample mean/std exactly as asked
        for seed, acc in enumerate(mean + spread * noise):
            rows.append(
                {
                    "run": f"+arm=cnn_{act},data={data},seed={seed}",
                    "arm": f"cnn_{act}",
                    "data": data,
                    "seed": seed,
                    "status": "completed",
                    "test_accuracy": acc / 100.0,
                }
            )
    (root / experiment).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / experiment / "summary.csv", index=False)


@pytest.fixture
def full(tmp_path) -> Path:
    return tmp_path / "full"


def test_e6_is_registered_with_its_table() -> None:
    all_claims()
    claim = CLAIMS["E6"]
    assert claim.rule is e6_selu_cnn and claim.experiment == MAIN_EXP


def test_paper_like_numbers_reproduce(full) -> None:
    _write(full, MAIN_EXP, "mnist", 99.2, 99.2, 0.1)
    _write(full, CIFAR_EXP, "cifar10", 82.5, 76.1, 1.0)
    verdict = e6_selu_cnn(full, "full")
    assert verdict.status == "reproduced", verdict.measured
    assert verdict.tables == (TABLE,) and verdict.figure.startswith(MAIN_EXP)
    assert "+6.40 points" in verdict.measured  # CIFAR SELU - ReLU, computed from the CSV


def test_selu_behind_on_mnist_and_not_ahead_on_cifar_is_contradicted(full) -> None:
    _write(full, MAIN_EXP, "mnist", 98.6, 99.2, 0.1)  # 0.6 points behind: beyond 0.3 and 2 s.e.
    _write(full, CIFAR_EXP, "cifar10", 76.0, 76.1, 1.0)  # within noise: open
    verdict = e6_selu_cnn(full, "full")
    assert verdict.status == "contradicted", verdict.line
    assert "mnist SELU-ReLU -0.60 pts (parity: tol 0.32, fails)" in verdict.line


def test_cifar_alone_within_noise_is_inconclusive(full) -> None:
    _write(full, CIFAR_EXP, "cifar10", 77.1, 76.1, 1.0)  # +1 point, 2 s.e. > 1: open
    verdict = e6_selu_cnn(full, "full")
    assert verdict.status == "inconclusive", verdict.line


def test_cifar_gain_within_noise_is_only_partly(full) -> None:
    _write(full, MAIN_EXP, "mnist", 99.15, 99.2, 0.1)
    # +1 point with seed std 1.0 over 5 seeds: s.e. sqrt(0.4 + test-set part) > 0.5, 2 s.e. > 1
    _write(full, CIFAR_EXP, "cifar10", 77.1, 76.1, 1.0)
    result = compare(accuracy_table(load_runs(full)), "cifar10")
    assert result["se_seeds"] == pytest.approx(math.sqrt(2 * 1.0**2 / SEEDS))
    assert result["se_test"] == pytest.approx(
        100 * math.sqrt((0.771 * 0.229 + 0.761 * 0.239) / 10_000)
    )
    assert not result["holds"]
    assert e6_selu_cnn(full, "full").status == "partly"


def test_one_paper_data_set_is_at_most_partly(full) -> None:
    _write(full, MAIN_EXP, "mnist", 99.2, 99.2, 0.1)
    verdict = e6_selu_cnn(full, "full")
    assert verdict.status == "partly" and "cifar10 not run" in verdict.scale


def test_quick_digits_parity_is_partly_and_a_clear_loss_is_not(tmp_path) -> None:
    quick = tmp_path / "quick"
    _write(quick, MAIN_EXP, "digits", 98.8, 99.1, 0.2)
    verdict = e6_selu_cnn(quick, "quick")
    assert verdict.status == "partly" and "digits" in verdict.scale
    _write(quick, MAIN_EXP, "digits", 95.0, 99.1, 0.2)  # 4 points behind: beyond any tolerance
    assert e6_selu_cnn(quick, "quick").status == "contradicted"


def test_failed_runs_are_left_out_and_counted(full) -> None:
    _write(full, MAIN_EXP, "mnist", 99.2, 99.2, 0.1)
    path = full / MAIN_EXP / "summary.csv"
    frame = pd.read_csv(path)
    frame.loc[0, ["status", "test_accuracy"]] = ["diverged", 0.1]  # a SELU run blew up
    frame.to_csv(path, index=False)
    table = accuracy_table(load_runs(full)).set_index("activation")
    assert table.loc["selu", "runs"] == SEEDS - 1 and table.loc["selu", "failed"] == 1
    assert table.loc["selu", "mean"] > 99.0
    assert "1 failed" in e6_selu_cnn(full, "full").measured


def test_an_arm_whose_runs_all_failed_is_contradicted(full) -> None:
    _write(full, MAIN_EXP, "mnist", 99.2, 99.2, 0.1)
    path = full / MAIN_EXP / "summary.csv"
    frame = pd.read_csv(path)
    frame.loc[frame["arm"] == "cnn_selu", "status"] = "diverged"
    frame.to_csv(path, index=False)
    verdict = e6_selu_cnn(full, "full")
    assert verdict.status == "contradicted" and "5 failed" in verdict.measured


def test_a_missing_arm_is_not_run_yet(full) -> None:
    _write(full, MAIN_EXP, "mnist", 99.2, 99.2, 0.1)
    path = full / MAIN_EXP / "summary.csv"
    frame = pd.read_csv(path)
    frame[frame["arm"] == "cnn_selu"].to_csv(path, index=False)
    assert CLAIMS["E6"].verdict(full, "full").line == "not run yet"
    assert CLAIMS["E6"].verdict(full.parent / "empty", "full").line == "not run yet"


def test_report_writes_the_table_and_figure(full) -> None:
    from initlab.papers.snn import report_cnn

    report_cnn.build(full, "full")  # no CSVs: nothing to do, no files
    assert not (full / TABLE).exists()
    _write(full, MAIN_EXP, "mnist", 99.1, 99.2, 0.1)
    _write(full, CIFAR_EXP, "cifar10", 82.5, 76.1, 1.0)
    report_cnn.build(full, "full")
    text = (full / TABLE).read_text()
    assert "| MNIST | SELU + LeCun | 5 | 99.10 +- 0.10 | 99.20 +- 0.10 |" in text
    assert "| CIFAR-10 | ReLU + He | 5 | 76.10 +- 1.00 | 76.10 +- 1.00 |" in text
    assert "| CIFAR-10 | +6.40 |" in text
    table = pd.read_csv((full / TABLE).with_suffix(".csv"))
    assert len(table) == 4
    assert (full / MAIN_EXP / "selu_cnn_accuracy.png").stat().st_size > 0


# --- the arms and the architectures, from the composed configs ------------------------------


def _model(experiment: str, act: str, input_shape: tuple[int, int, int]) -> tuple[nn.Module, Setup]:
    setup = parse_config(quiet_config(f"+experiment={experiment}", f"+arm=cnn_{act}"))
    model = build_model(setup.model, input_shape, 10)
    torch.manual_seed(0)
    initialize(model, setup.init)
    return model, setup


@pytest.mark.parametrize(("act", "init", "gain"), [("selu", "lecun", 1.0), ("relu", "he", 2.0)])
def test_arm_composes_activation_and_variance(act, init, gain) -> None:
    model, setup = _model("e6_selu_cnn_full", act, (1, 28, 28))
    assert setup.model.activation == act and setup.init.name == init
    assert setup.init.distribution == "normal"
    acts = {type(m) for m in model.modules() if isinstance(m, nn.SELU | nn.ReLU)}
    assert acts == {nn.SELU if act == "selu" else nn.ReLU}
    conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)][1]  # 64 x 32 x 3 x 3
    fan_in = conv.weight[0].numel()
    assert fan_in == 32 * 9
    # 18,432 draws: the sample variance's relative s.e. is sqrt(2/18432) = 1.0 %; 5 % is 5 s.e.
    # and far from torch's calculate_gain('selu')**2 = 0.5625 (-44 %) or He's factor 2 (+100 %)
    assert conv.weight.var().item() == pytest.approx(gain / fan_in, rel=0.05)
    assert conv.weight.mean().abs().item() < 4 * math.sqrt(gain / fan_in / conv.weight.numel())
    assert torch.count_nonzero(conv.bias) == 0


def _layer_kinds(model: nn.Module) -> list[str]:
    names = {nn.Conv2d: "conv", nn.MaxPool2d: "pool", nn.Linear: "fc"}
    return [names[type(m)] for m in model.modules() if type(m) in names]


@pytest.mark.parametrize(
    ("experiment", "shape", "kinds"),
    [
        ("e6_selu_cnn", (1, 8, 8), ["conv", "conv", "pool", "fc", "fc"]),
        ("e6_selu_cnn_full", (1, 28, 28), ["conv", "conv", "pool", "fc", "fc"]),
        (
            "e6_cifar_cnn_full",
            (3, 32, 32),
            ["conv", "conv", "pool", "conv", "conv", "pool", "fc", "fc"],
        ),
    ],
)
def test_architectures_match_the_slides(experiment, shape, kinds) -> None:
    model, _ = _model(experiment, "selu", shape)
    assert _layer_kinds(model) == kinds
    logits = model(torch.randn(4, *shape))
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    ("experiment", "data", "seeds"),
    [
        ("e6_selu_cnn", "digits", 3),
        ("e6_selu_cnn_full", "mnist", 5),
        ("e6_cifar_cnn_full", "cifar10", 5),
    ],
)
def test_sweeps_cover_both_arms_and_name_the_data(experiment, data, seeds) -> None:
    from initlab.experiments import sweep_params

    profile = "full" if experiment.endswith("_full") else "quick"
    params = sweep_params(experiment.removesuffix("_full"), profile)
    assert sorted(params["+arm"]) == ["cnn_relu", "cnn_selu"]
    assert params["data"] == [data]
    assert len(params["seed"]) == seeds
    for act in ("selu", "relu"):
        assert (CONF_DIR / "arm" / f"cnn_{act}.yaml").exists()


def test_digits_test_size_is_what_the_loader_holds_out() -> None:
    setup = parse_config(quiet_config("+experiment=e6_selu_cnn", "+arm=cnn_selu"))
    bundle = build_data(setup.data)
    assert len(bundle.y_test) == TEST_IMAGES["digits"]
    assert tuple(bundle.input_shape) == (1, 8, 8)

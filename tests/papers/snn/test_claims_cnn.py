"""E6 (CNNs with SELU vs ReLU): the verdict rule on synthetic summary CSVs, the arms' activation
and initialization, and the architectures of the paper-scale configs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from initlab.claims import CLAIMS, all_claims
from initlab.claims.decide import DIFFERENT, EQUIVALENT, UNDECIDED, tost
from initlab.compose import CONF_DIR
from initlab.data import build_data
from initlab.inits.base import initialize
from initlab.models.base import build_model
from initlab.papers.snn.claims_cnn import (
    CIFAR_EXP,
    MAIN_EXP,
    MNIST_SUBSET_EXP,
    TABLE,
    TEST_IMAGES,
    accuracy_table,
    compare,
    e6_selu_cnn,
    equivalence,
    equivalence_margin,
    load_runs,
)
from initlab.setup import Setup, parse_config
from tests.conftest import quiet_config

SEEDS = 5
ROOT = Path(__file__).resolve().parents[2]


def _write(
    root: Path,
    experiment: str,
    data: str,
    selu: float,
    relu: float,
    spread: float,
    seeds: int = SEEDS,
    records: dict[str, int] | None = None,
):
    """A collected summary.csv: ``seeds`` runs per arm, accuracies (fractions) whose sample mean
    and std are exactly the ones asked; ``records``: extra recorded columns (train_examples...)."""
    rng = np.random.default_rng(0)
    rows = []
    for act, mean in (("selu", selu), ("relu", relu)):
        noise = rng.standard_normal(seeds)
        noise = (noise - noise.mean()) / noise.std(ddof=1)  # sample mean/std exactly as asked
        for seed, acc in enumerate(mean + spread * noise):
            rows.append(
                {
                    "run": f"arm=cnn_{act},data={data},seed={seed}",
                    "arm": f"cnn_{act}",
                    "data": data,
                    "seed": seed,
                    "status": "completed",
                    "test_accuracy": acc / 100.0,
                    **(records or {}),
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


# --- the equivalence test (TOST) of the MNIST-subset parity claim ---------------------------


def test_tost_matches_the_welch_formulas_by_hand() -> None:
    a, b = [10.0, 12.0, 11.0, 13.0], [11.0, 11.0, 12.0, 10.0]
    # by hand: means 11.5 and 11, variances 5/3 and 2/3; se^2 = (5/3 + 2/3) / 4 = 7/12;
    # Welch dof = (7/12)^2 / ((5/12)^2 / 3 + (1/6)^2 / 3) = 147/29
    se, dof = math.sqrt(7 / 12), 147 / 29
    eq = tost(a, b, margin=2.0)
    assert eq.diff == pytest.approx(0.5) and eq.dof == pytest.approx(dof)
    p_lower = stats.t.sf((0.5 + 2.0) / se, dof)  # H0: diff <= -2
    p_upper = stats.t.cdf((0.5 - 2.0) / se, dof)  # H0: diff >= +2
    assert eq.p == pytest.approx(max(p_lower, p_upper), rel=1e-9)
    half = stats.t.ppf(0.95, dof) * se
    assert (eq.lo, eq.hi) == pytest.approx((0.5 - half, 0.5 + half))
    assert eq.outcome == UNDECIDED and eq.p == pytest.approx(p_upper)  # the upper test binds
    # and scipy's Welch t test run once per side on shifted data says the same
    lower = stats.ttest_ind(np.add(a, 2.0), b, equal_var=False, alternative="greater").pvalue
    upper = stats.ttest_ind(np.subtract(a, 2.0), b, equal_var=False, alternative="less").pvalue
    assert eq.p == pytest.approx(max(lower, upper), rel=1e-9)
    # the interval inside the margin <=> p < alpha, on either side of alpha
    for margin in (half + 0.5 - 1e-6, half + 0.5 + 1e-6):
        inside = tost(a, b, margin)
        assert (inside.p < 0.05) == (inside.hi < margin) == (inside.outcome == EQUIVALENT)


def test_tost_size_at_the_margin_is_alpha() -> None:
    """Monte Carlo: two normal groups of 5 (sd 0.1, so the 90% interval is far narrower than the
    margin) whose true difference sits exactly on the margin are declared equivalent in about
    alpha = 5 % of 1,000 draws (the binomial s.e. of the rate is 0.69 points: the band is
    +-2.9 s.e.; Welch's dof, below the pooled 8, makes it slightly conservative)."""
    rng = np.random.default_rng(1)
    draws = 1_000
    a = rng.normal(0.5, 0.1, (draws, 5))
    b = rng.normal(0.0, 0.1, (draws, 5))
    rate = np.mean([tost(x, y, 0.5).outcome == EQUIVALENT for x, y in zip(a, b, strict=True)])
    assert 0.03 <= rate <= 0.07, rate


def test_tost_refuses_what_it_cannot_test() -> None:
    with pytest.raises(ValueError, match="margin"):
        tost([1.0, 2.0], [1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match=">= 2"):
        tost([1.0], [1.0, 2.0], 0.5)
    exact = tost([1.0, 1.0], [1.2, 1.2], 0.5)  # no spread: the difference is known
    assert exact.outcome == EQUIVALENT and exact.p == 0.0


RECORDS = {"train_examples": 3210, "heldout_examples": 790, "epochs": 17}


def _subset(tmp_path: Path, selu: float, relu: float, spread: float, seeds: int = SEEDS):
    quick = tmp_path / "quick"
    _write(quick, MNIST_SUBSET_EXP, "mnist_subset", selu, relu, spread, seeds, RECORDS)
    return quick


def test_margin_comes_from_the_experiment_config() -> None:
    from omegaconf import OmegaConf

    raw = OmegaConf.load(CONF_DIR / "experiment" / f"{MNIST_SUBSET_EXP}.yaml")
    assert equivalence_margin("mnist_subset", "quick") == raw.claims.E6.equivalence_margin > 0
    assert equivalence_margin("digits", "quick") is None  # digits keeps its parity tolerance


def test_subset_equivalence_shown_is_the_parity_check_holding(tmp_path) -> None:
    quick = _subset(tmp_path, 97.6, 97.5, 0.1)  # +0.1, 90% interval +-0.12: inside +-0.5
    verdict = e6_selu_cnn(quick, "quick")
    assert verdict.status == "partly", verdict.line  # the parity half; CIFAR-10 not run
    assert "equivalent" in verdict.line and "not equivalent" not in verdict.line
    eq = equivalence(load_runs(quick), "mnist_subset", 0.5)
    assert eq.outcome == EQUIVALENT and eq.p < 0.05 and -0.5 < eq.lo < eq.hi < 0.5
    assert f"[{eq.lo:+.2f}, {eq.hi:+.2f}]" in verdict.line
    # every count comes from the records, none typed: 3,210 / 790 images, 17 epochs, 5 seeds
    assert "3,210 train / 790 held-out images, 17 epochs, 5 seeds per arm" in verdict.scale
    assert "5 seeds/arm, 17 epochs" in verdict.line


def test_subset_interval_beyond_the_margin_is_contradicted(tmp_path) -> None:
    quick = _subset(tmp_path, 96.5, 97.5, 0.2)  # -1.0, interval -1.0 +- 0.24: below -0.5
    verdict = e6_selu_cnn(quick, "quick")
    assert verdict.status == "contradicted", verdict.line
    assert "not equivalent" in verdict.line
    assert "SELU behind ReLU by 1.00 points" in verdict.measured


def test_subset_undecided_is_inconclusive_and_names_the_seeds_that_decide(tmp_path) -> None:
    quick = _subset(tmp_path, 97.3, 97.5, 0.4)  # -0.2, interval -0.2 +- 0.47: over -0.5
    verdict = e6_selu_cnn(quick, "quick")
    assert verdict.status == "inconclusive", verdict.line
    eq = equivalence(load_runs(quick), "mnist_subset", 0.5)
    assert eq.outcome == UNDECIDED and eq.needed is not None and eq.needed > SEEDS
    assert f"about {eq.needed} seeds per arm would decide" in verdict.measured
    # the projection is right: that many seeds at the same mean and spread decide, one fewer not
    decided = _subset(tmp_path / "more", 97.3, 97.5, 0.4, seeds=eq.needed)
    assert equivalence(load_runs(decided), "mnist_subset", 0.5).outcome == EQUIVALENT
    fewer = _subset(tmp_path / "fewer", 97.3, 97.5, 0.4, seeds=eq.needed - 1)
    assert equivalence(load_runs(fewer), "mnist_subset", 0.5).outcome == UNDECIDED


def test_report_table_shows_the_equivalence_test(tmp_path) -> None:
    from initlab.papers.snn import report_cnn

    quick = _subset(tmp_path, 96.5, 97.5, 0.2)
    report_cnn.build(quick, "quick")
    text = (quick / TABLE).read_text()
    assert "TOST p" in text and "+-0.5" in text and DIFFERENT in text
    assert "3,210 train / 790 held-out images, 17 epochs, 5 seeds per arm" in text


# --- the arms and the architectures, from the composed configs ------------------------------


def _model(experiment: str, act: str, input_shape: tuple[int, int, int]) -> tuple[nn.Module, Setup]:
    setup = parse_config(quiet_config(f"experiment={experiment}", f"arm=cnn_{act}"))
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
        ("e6_mnist_subset", "mnist_subset", 5),
    ],
)
def test_sweeps_cover_both_arms_and_name_the_data(experiment, data, seeds) -> None:
    from initlab.experiments import sweep_params

    profile = "full" if experiment.endswith("_full") else "quick"
    params = sweep_params(experiment.removesuffix("_full"), profile)
    assert sorted(params["arm"]) == ["cnn_relu", "cnn_selu"]
    assert params["data"] == [data]
    assert len(params["seed"]) == seeds
    for act in ("selu", "relu"):
        assert (CONF_DIR / "arm" / f"cnn_{act}.yaml").exists()


def test_mnist_subset_trains_on_every_training_image_for_the_slides_epochs() -> None:
    setup = parse_config(quiet_config("experiment=e6_mnist_subset", "arm=cnn_selu"))
    assert setup.data.max_train is None and setup.data.val_fraction == 0.0  # held out = test
    assert setup.task.epochs == 30


def test_digits_test_size_is_what_the_loader_holds_out() -> None:
    setup = parse_config(quiet_config("experiment=e6_selu_cnn", "arm=cnn_selu"))
    bundle = build_data(setup.data)
    assert len(bundle.y_test) == TEST_IMAGES["digits"]
    assert tuple(bundle.input_shape) == (1, 8, 8)

"""PDI as an initializer: the subset its seed names, no val/test leak, zero steps == base init."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from initlab.config import ConfigError
from initlab.data import build_data
from initlab.data.bundle import DataBundle
from initlab.inits.pdi import stage_sizes, subset_bundle, subset_indices
from initlab.main import execute
from initlab.setup import parse_config
from tests.conftest import quiet_config

SMALL = ["data=iris", "model.depth=2", "model.width=8", "device=cpu"]


def _state(setup, data, seed=0, run=None):
    torch.manual_seed(seed)
    model = setup.new_model(data, run)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_subset_is_the_one_its_seed_names_and_comes_from_train_only():
    n = 50
    x_train = torch.arange(n, dtype=torch.float32).view(n, 1)  # row i holds the value i
    data = DataBundle(
        "toy", x_train, torch.zeros(n, dtype=torch.long),
        torch.full((7, 1), -1.0), torch.zeros(7, dtype=torch.long),
        torch.full((9, 1), -2.0), torch.zeros(9, dtype=torch.long), 2,
    )  # fmt: skip
    idx = subset_indices(n, 10, seed=3)
    expected = torch.randperm(n, generator=torch.Generator().manual_seed(3))[:10]
    assert torch.equal(idx, expected)
    assert not torch.equal(idx, subset_indices(n, 10, seed=4))
    assert torch.equal(subset_indices(n, 20, seed=3)[:10], idx)  # stages are nested
    sub = subset_bundle(data, idx)
    assert torch.equal(sub.x_train.view(-1), idx.float())  # training rows only, no -1/-2
    assert sub.x_val is data.x_val and sub.x_test is data.x_test


def test_stage_sizes_from_fractions_and_counts():
    setup = parse_config(quiet_config(*SMALL, "init=pdi", "init.stages=[0.001,0.5,1.0]"))
    assert stage_sizes(setup.init, 1000) == [1, 500, 1000]
    setup = parse_config(
        quiet_config(*SMALL, "init=pdi", "init.stage_unit=count", "init.stages=[10,5000]")
    )
    assert stage_sizes(setup.init, 1000) == [10, 1000]


def test_pdi_never_trains_on_validation_or_test_rows():
    """NaN in every val/test row: one such row in a batch would make the parameters NaN."""
    setup = parse_config(
        quiet_config(*SMALL, "init=pdi", "init.stages=[0.5,1.0]", "init.duration=[20]")
    )
    data = build_data(setup.data)
    data.x_val[:] = float("nan")
    data.x_test[:] = float("nan")
    trained = _state(setup, data)
    base = _state(parse_config(quiet_config(*SMALL, "init=he")), data)
    assert all(torch.isfinite(v).all() for v in trained.values())
    assert any(not torch.equal(trained[k], base[k]) for k in base)  # it did train


@pytest.mark.parametrize("base", ["he", "xavier", "torch"])
def test_zero_steps_reduce_exactly_to_the_base_initializer(base):
    data = build_data(parse_config(quiet_config(*SMALL)).data)
    pdi = parse_config(quiet_config(*SMALL, "init=pdi", f"init.base={base}", "init.duration=[0]"))
    plain = parse_config(quiet_config(*SMALL, f"init={base}"))
    a, b = _state(pdi, data, seed=5), _state(plain, data, seed=5)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(_draw_after_init(pdi, data), _draw_after_init(plain, data))


def _draw_after_init(setup, data):
    """Numbers the global generator gives after initializing: the RNG stream must not shift."""
    torch.manual_seed(5)
    setup.new_model(data)
    return torch.rand(3)


def test_pdi_refuses_itself_as_base_and_mismatched_durations():
    with pytest.raises(ConfigError, match="init.base: pdi cannot wrap itself"):
        parse_config(quiet_config(*SMALL, "init=pdi", "init.base=pdi"))
    with pytest.raises(ConfigError, match="init.duration"):
        parse_config(
            quiet_config(*SMALL, "init=pdi", "init.stages=[0.1,0.5,1.0]", "init.duration=[1,2]")
        )


def test_pdi_in_a_run_logs_its_stages_and_weight_variances(tmp_path):
    cfg = quiet_config(
        *SMALL, "init=pdi", "init.stages=[0.2,1.0]", "init.duration=[4,6]",
        "init.variance_every=2", "init.log_every=1", "task.epochs=1",
    )  # fmt: skip
    summary = execute(cfg, tmp_path)
    assert summary["status"] == "completed"
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert set(metrics["phase"]) == {"pdi_stage0", "pdi_stage1", "train"}
    assert metrics[metrics["phase"] == "pdi_stage1"]["step"].max() == 6
    table = pd.read_csv(tmp_path / "weight_variance.csv")
    # steps 0, 2 (and the end, 4) of stage 0; 0, 2, 4, 6 of stage 1; for each of 3 weight layers
    assert sorted(set(zip(table["stage"], table["step"], strict=True))) == [
        (0, 0), (0, 2), (0, 4), (1, 0), (1, 2), (1, 4), (1, 6),
    ]  # fmt: skip
    assert table["layer"].nunique() == 3
    first = table[(table["stage"] == 0) & (table["step"] == 0)]
    # He's draw at step 0: the sample variance of a layer sits near 2 / fan_in
    assert ((first["variance"] / first["he_variance"] - 1).abs() < 0.5).all()
    # stage 0 ends where stage 1 begins (the parameters are handed on)
    end0 = table[(table["stage"] == 0) & (table["step"] == 4)]["variance"].to_numpy()
    start1 = table[(table["stage"] == 1) & (table["step"] == 0)]["variance"].to_numpy()
    assert (end0 == start1).all()

"""Draws measured in one vmapped pass give the numbers of the loop, for every architecture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from initlab.analysis.features import layer_features, layer_table, stacked_layer_features
from initlab.compose import compose
from initlab.data import build_data
from initlab.main import execute
from initlab.setup import parse_config

NETS = {
    "mlp": ["arm=angles_mlp", "data=digits_flat"],
    "resnet": ["arm=angles_resnet", "data=digits_flat"],
    "resnet_fixup": ["arm=angles_resnet_fixup", "data=synthetic", "data.samples=60"],
    "resnet_bn": ["arm=angles_resnet_bn", "data=digits_flat"],
    "conv_resnet": ["arm=angles_resnet", "data=digits"],
    "conv_resnet_bn": ["arm=angles_resnet_bn", "data=digits"],
    "snn": ["arm=angles_snn", "data=digits_flat", "model.dropout=0.1"],
}


def draws(overrides: list[str], count: int = 3):
    cfg = compose(["logger.wandb.mode=disabled", "model.depth=4", "model.width=8", *overrides])
    setup = parse_config(cfg)
    data = build_data(setup.data)
    models = []
    for seed in range(count):
        torch.manual_seed(seed)
        models.append(setup.new_model(data))
    if setup.init.name == "fixup":  # Fixup's zero branches would hide wrong branch weights
        for model in models:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.1 * torch.randn_like(p))
    x, y = data.split("test")
    return models, x[:40], y[:40]


def assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal to float64 rounding (relative to the layer's scale)."""
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12 * float(b.abs().max()))


@pytest.mark.parametrize("net", list(NETS))
def test_vmapped_features_equal_the_loop(net):
    models, x, _ = draws(NETS[net])
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    stacked = stacked_layer_features(models, x, batch_size=16)
    for i, model in enumerate(models):
        looped = layer_features(model, x, batch_size=16)
        assert len(looped) == len(stacked) == 5
        for h_loop, h_stack in zip(looped, stacked, strict=True):
            assert h_stack.dtype == torch.float64
            assert_same(h_stack[i], h_loop)
    # every draw got its own weights (a broadcast of draw 0 would pass the comparison above
    # only if the loop were broken the same way)
    assert not torch.allclose(stacked[-1][0], stacked[-1][1])
    for model, state in zip(models, before, strict=True):  # BatchNorm buffers untouched
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("net", ["mlp", "resnet_bn", "conv_resnet"])
def test_layer_table_is_the_same_in_passes_of_any_size(net):
    models, x, y = draws(NETS[net])
    pairs = torch.tensor([[0, 1], [2, 3], [16, 17], [5, 9]])
    groups = ["a", "a", "b", "b"]
    kwargs = dict(labels=y, pairs=pairs, groups=groups, batch_size=16)
    looped = layer_table(models, x, **kwargs)
    for per_pass in (2, 3, 5):
        vectorized = layer_table(models, x, draws_per_pass=per_pass, **kwargs)
        pd.testing.assert_frame_equal(vectorized, looped, rtol=1e-12, atol=1e-12)
    assert looped.draw.nunique() == 3


def test_draws_of_different_architectures_are_refused():
    wide, x, _ = draws(NETS["mlp"], count=1)
    narrow, _, _ = draws([*NETS["mlp"], "model.width=4"], count=1)
    with pytest.raises(ValueError, match="one architecture"):
        stacked_layer_features([wide[0], narrow[0]], x)


def test_task_tables_do_not_depend_on_draws_per_pass(tmp_path):
    """Also with training: each draw trains from the RNG state it would have had alone
    (dropout draws its masks from it)."""
    base = [
        "logger.wandb.mode=disabled",
        "task=angles",
        "arm=angles_mlp",
        "data=digits_flat",
        "model.depth=3",
        "model.width=16",
        "model.dropout=0.2",
        "task.seeds=3",
        "task.cosines=[0.0,0.9]",
        "task.pairs_per_cosine=3",
        "task.examples=40",
        "task.data_pairs=10",
        "task.measure_batch_size=16",
        "task.train=true",
        "task.epochs=1",
    ]
    tables = {}
    for per_pass in (1, 2):
        summary = execute(
            compose([*base, f"task.draws_per_pass={per_pass}"]), tmp_path / f"{per_pass}"
        )
        assert summary["status"] == "completed"
        tables[per_pass] = [
            pd.read_csv(tmp_path / f"{per_pass}" / f) for f in ("angles.csv", "draws.csv")
        ]
    for one, two in zip(tables[1], tables[2], strict=True):
        pd.testing.assert_frame_equal(two, one, rtol=1e-12, atol=1e-12)
    angles = tables[1][0]
    assert set(angles.stage) == {"init", "trained"} and set(angles.draw) == {0, 1, 2}
    trained = angles[(angles.stage == "trained") & (angles.layer == 3)]
    assert trained.groupby("draw").cos_mean.first().nunique() == 3
    assert np.isfinite(tables[1][1].test_accuracy).all()

"""``task=angles`` on a trained network loaded from a train run's checkpoint."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from initlab.analysis.features import layer_table
from initlab.checkpoints import load_weights
from initlab.compose import compose
from initlab.config import ConfigError
from initlab.data import build_data
from initlab.main import execute
from initlab.setup import parse_config
from initlab.tasks.angles import _inputs

NET = ["logger.wandb.mode=disabled", "arm=angles_mlp", "data=digits_flat"]
SIZE = ["model.depth=3", "model.width=16"]
ANGLES = [
    "task=angles",
    "task.seeds=1",
    "task.cosines=[0.0,0.5]",
    "task.pairs_per_cosine=3",
    "task.examples=40",
    "task.data_pairs=10",
    "task.measure_batch_size=16",
]
COLUMNS = ["cos_mean", "angle_mean", "theory_cos", "within", "between", "ratio", "second_moment"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    summary = execute(compose([*NET, *SIZE, "task=train", "task.epochs=1"]), out)
    assert summary["status"] == "completed" and (out / "checkpoint.pt").exists()
    return out, summary


def test_checkpoint_is_measured_as_saved(trained, tmp_path):
    train_dir, train_summary = trained
    cfg = compose([*NET, *SIZE, *ANGLES, f"task.checkpoint={train_dir}"])
    summary = execute(cfg, tmp_path / "ckpt")
    assert summary["status"] == "completed"
    table = pd.read_csv(tmp_path / "ckpt" / "angles.csv")
    assert set(table.stage) == {"checkpoint"}

    # by hand: the same network with the saved weights, the same inputs
    setup = parse_config(cfg)
    data = build_data(setup.data)
    model = setup.new_model(data)
    model.load_state_dict(torch.load(train_dir / "checkpoint.pt", weights_only=True)["model"])
    for name, (x, labels, pairs, groups, size) in _inputs(setup.task, setup, data).items():
        ours = table[table.inputs == name].reset_index(drop=True)
        by_hand = layer_table(model, x, labels, pairs, groups, batch_size=min(size, 16))
        np.testing.assert_allclose(ours[COLUMNS], by_hand[COLUMNS], rtol=1e-12, atol=1e-15)
    assert summary["checkpoint_test_accuracy"] == pytest.approx(train_summary["test_accuracy"])
    draws = pd.read_csv(tmp_path / "ckpt" / "draws.csv")
    assert draws.steps.tolist() == [train_summary["steps"]]

    # and not the numbers of a fresh draw
    fresh = execute(compose([*NET, *SIZE, *ANGLES]), tmp_path / "fresh")
    init = pd.read_csv(tmp_path / "fresh" / "angles.csv")
    last = init.layer.max()
    deep_init = init[init.layer == last].cos_mean.to_numpy()
    deep_ckpt = table[table.layer == last].cos_mean.to_numpy()
    assert np.abs(deep_init - deep_ckpt).max() > 1e-3
    assert fresh["init_test_accuracy"] < summary["checkpoint_test_accuracy"]


def test_checkpoint_file_or_directory(trained):
    train_dir, _ = trained
    setup = parse_config(compose([*NET, *SIZE]))
    data = build_data(setup.data)
    a, b = setup.new_model(data), setup.new_model(data)
    meta = load_weights(a, train_dir)
    load_weights(b, train_dir / "checkpoint.pt")
    assert meta["phase"] == "train" and "model" not in meta
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), key


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["task.train=true"], "task.train: a checkpoint is measured as saved"),
        (["task.seeds=2"], "task.seeds: a checkpoint is one network"),
        (["model.width=32"], "was trained with model width=16 \\(here 32\\)"),
        (["model.activation=tanh"], "activation='relu' \\(here 'tanh'\\)"),
    ],
)
def test_misuse_is_refused(trained, tmp_path, overrides, match):
    train_dir, _ = trained
    cfg = compose([*NET, *SIZE, *ANGLES, f"task.checkpoint={train_dir}", *overrides])
    with pytest.raises(ConfigError, match=match):
        execute(cfg, tmp_path)


def test_missing_or_unfit_checkpoint_is_one_clear_error(trained, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=f"task.checkpoint: {missing}/checkpoint.pt does not"):
        missing.mkdir()
        execute(compose([*NET, *SIZE, *ANGLES, f"task.checkpoint={missing}"]), tmp_path / "a")
    # without the run's config.yaml next to it only the strict load can tell
    bare = tmp_path / "bare.pt"
    shutil.copy(trained[0] / "checkpoint.pt", bare)
    cfg = compose([*NET, "model.depth=3", "model.width=32", *ANGLES, f"task.checkpoint={bare}"])
    with pytest.raises(ConfigError, match="does not fit this model"):
        execute(cfg, tmp_path / "b")

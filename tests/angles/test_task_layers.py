"""``task=angles`` with ``layers: log`` (rows of log-spaced layers only: the same numbers as with
every layer written) and ``cosines: []`` (no synthetic pairs)."""

from __future__ import annotations

import pandas as pd

from initlab.compose import compose
from initlab.main import execute
from initlab.tasks.angles import log_layers

TINY = [
    "logger.wandb.mode=disabled",
    "task=angles",
    "data=digits_flat",
    "arm=angles_mlp",
    "model.depth=16",
    "model.width=16",
    "task.seeds=1",
    "task.examples=40",
    "task.data_pairs=10",
    "task.measure_batch_size=40",
]


def test_log_layers_are_every_layer_to_ten_then_sixteen_per_decade():
    assert list(log_layers(24)) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 15, 18, 21, 24]
    assert len(log_layers(100)) == 27 and log_layers(100)[-1] == 100
    assert list(log_layers(3)) == [0, 1, 2, 3]


def test_log_rows_are_the_all_layer_rows_at_those_layers(tmp_path):
    every = tmp_path / "all"
    kept = tmp_path / "log"
    pairs = ["task.cosines=[0.5]", "task.pairs_per_cosine=2"]
    execute(compose([*TINY, *pairs]), every)
    execute(compose([*TINY, *pairs, "task.layers=log"]), kept)
    full = pd.read_csv(every / "angles.csv")
    thin = pd.read_csv(kept / "angles.csv")
    assert sorted(thin.layer.unique()) == list(log_layers(16))
    same = full[full.layer.isin(log_layers(16))].reset_index(drop=True)
    pd.testing.assert_frame_equal(thin.reset_index(drop=True), same)


def test_no_synthetic_pairs_without_cosines(tmp_path):
    execute(compose([*TINY, "task.cosines=[]"]), tmp_path)
    angles = pd.read_csv(tmp_path / "angles.csv")
    assert set(angles.inputs) == {"data"} and angles.ratio.notna().all()
    draws = pd.read_csv(tmp_path / "draws.csv")
    assert draws.angle_last_synthetic.isna().all() and draws.ratio_last.notna().all()

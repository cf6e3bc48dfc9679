"""``task=angles`` end to end through initlab.main.execute on tiny settings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from initlab.compose import compose
from initlab.config import ConfigError
from initlab.main import execute

TINY = [
    "logger.wandb.mode=disabled",
    "task=angles",
    "data=digits_flat",
    "model.depth=3",
    "model.width=16",
    "task.seeds=2",
    "task.cosines=[0.0,0.5]",
    "task.pairs_per_cosine=3",
    "task.examples=40",
    "task.data_pairs=10",
    "task.measure_batch_size=16",
]


def test_angles_task_writes_tables_and_summary(tmp_path):
    cfg = compose([*TINY, "arm=angles_mlp", "task.train=true", "task.epochs=1"])
    summary = execute(cfg, tmp_path)
    assert summary["status"] == "completed"
    angles = pd.read_csv(tmp_path / "angles.csv")
    # draws x stages x layers (input + 3) x pair sets (2 cosines + data)
    assert len(angles) == 2 * 2 * 4 * 3
    assert set(angles.arch) == {"mlp"} and set(angles.stage) == {"init", "trained"}
    init = angles[(angles.stage == "init") & (angles.inputs == "synthetic")]
    np.testing.assert_allclose(init[init.layer == 0].cos_mean, init[init.layer == 0].cos0)
    assert init.theory_cos.notna().all()
    data = angles[angles.inputs == "data"]
    assert data.ratio.notna().all() and (data.within > 0).all()
    assert angles[angles.inputs == "synthetic"].ratio.isna().all()
    draws = pd.read_csv(tmp_path / "draws.csv")
    assert len(draws) == 4 and set(draws.train_status.dropna()) == {"completed"}
    trained = draws[draws.stage == "trained"]
    assert (trained.steps > 0).all()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["trained_test_accuracy"] == pytest.approx(trained.test_accuracy.mean())
    assert saved["layers"] == 3
    # the two draws are different models
    last = angles[(angles.layer == 3) & (angles.stage == "init") & (angles.inputs == "data")]
    assert last.cos_mean.nunique() == 2


def test_batchnorm_resnet_runs_with_batch_statistics(tmp_path):
    summary = execute(compose([*TINY, "arm=angles_resnet_bn"]), tmp_path)
    angles = pd.read_csv(tmp_path / "angles.csv")
    assert summary["status"] == "completed"
    assert angles.theory_cos.isna().all() and angles.cos_mean.notna().all()
    assert set(angles.measure_batch_size) == {16}


def test_bad_split_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="task.split"):
        execute(compose([*TINY, "task.split=training"]), tmp_path)

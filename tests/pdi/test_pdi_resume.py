"""A PDI run killed in its second stage and run again equals an uninterrupted run."""

from __future__ import annotations

import json

import pandas as pd

from initlab_harness.faults import FAULT_ENV
from tests.conftest import QUIET, run_cli

ARGS = [
    *QUIET,
    "data=iris",
    "model.depth=2",
    "model.width=8",
    "model.dropout=0.1",  # uses the global RNG: its state must be resumed too
    "init=pdi",
    "init.stages=[0.25,0.5]",
    "init.duration=[3,8]",
    "init.batch_size=64",  # one step per epoch: a checkpoint after every step
    "init.checkpoint_interval_s=0",
    "init.log_every=1",
    "init.variance_every=2",
    "task.epochs=2",
    "task.checkpoint_interval_s=0",
]


def test_killed_pdi_run_resumes_to_the_same_result(tmp_path):
    whole = run_cli(*ARGS, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    # stage 0 has 3 steps, so the kill at step 5 happens in stage 1, after its step-4 checkpoint
    killed = run_cli(
        *ARGS, f"hydra.run.dir={tmp_path / 'resumed'}", cwd=tmp_path, env={FAULT_ENV: "5"}
    )
    assert killed.returncode == 3, killed.stderr
    assert not (tmp_path / "resumed" / "summary.json").exists()
    assert len(list((tmp_path / "resumed" / "pdi").glob("stage0-*.pt"))) == 1
    assert not list((tmp_path / "resumed" / "pdi").glob("stage1-*.pt"))
    resumed = run_cli(*ARGS, f"hydra.run.dir={tmp_path / 'resumed'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summaries = [
        json.loads((tmp_path / d / "summary.json").read_text()) for d in ("whole", "resumed")
    ]
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy", "steps"):
        assert summaries[0][key] == summaries[1][key]
    for table in ("metrics.csv", "weight_variance.csv"):
        frames = [pd.read_csv(tmp_path / d / table) for d in ("whole", "resumed")]
        pd.testing.assert_frame_equal(frames[0], frames[1])

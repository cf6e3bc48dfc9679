"""Training end to end: accuracy, determinism, divergence, resume after a kill, no overwrite."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from initlab.main import OutputDirInUse, execute
from initlab_harness.faults import FAULT_ENV
from tests.conftest import QUIET, quiet_config, run_cli

SHORT = ["data=digits", "task.epochs=4", "model.width=32", "model.depth=2", "device=cpu"]


def test_short_training_on_digits_reaches_stated_accuracy(tmp_path):
    summary = execute(quiet_config(*SHORT), tmp_path / "run")
    assert summary["status"] == "completed"
    # 4 epochs of SGD on 8x8 digits: a working loop gets > 90% (chance is 10%).
    assert summary["test_accuracy"] > 0.90
    assert summary["train_loss"] < summary["test_loss"] + 0.5
    for key in (
        "train_loss",
        "test_loss",
        "test_accuracy",
        "seed",
        "config_hash",
        "wall_time_s",
        "device",
        "versions",
        "git_commit",
    ):
        assert key in summary
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["status"] == "completed"
    assert (tmp_path / "run" / "config.yaml").exists()
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["step"].is_monotonic_increasing
    assert metrics["test_accuracy"].dropna().size == 4  # one evaluation per epoch


def test_same_config_and_seed_give_same_numbers(tmp_path):
    first = execute(quiet_config(*SHORT, "model=resnet", "optim.lr=0.01"), tmp_path / "a")
    second = execute(quiet_config(*SHORT, "model=resnet", "optim.lr=0.01"), tmp_path / "b")
    other_seed = execute(
        quiet_config(*SHORT, "model=resnet", "optim.lr=0.01", "seed=1"), tmp_path / "c"
    )
    for key in ("train_loss", "test_loss", "test_accuracy"):
        assert first[key] == second[key]
    assert first["train_loss"] != other_seed["train_loss"]
    curves = [pd.read_csv(tmp_path / d / "metrics.csv") for d in ("a", "b")]
    pd.testing.assert_frame_equal(curves[0], curves[1])


def test_exploding_loss_is_recorded_as_diverged(tmp_path):
    summary = execute(quiet_config(*SHORT, "optim.lr=1000", "optim.momentum=0"), tmp_path / "d")
    assert summary["status"] == "diverged"
    assert isinstance(summary["diverged_at_step"], int)
    assert summary["diverged_at_step"] < 100


def test_a_finished_run_is_skipped_and_another_config_is_refused(tmp_path):
    execute(quiet_config(*SHORT), tmp_path / "run")
    again = execute(quiet_config(*SHORT), tmp_path / "run")
    assert again.get("skipped") is True
    with pytest.raises(OutputDirInUse, match="holds a run of another config"):
        execute(quiet_config(*SHORT, "seed=3"), tmp_path / "run")


@pytest.mark.slow  # the same kill/resume is in test_engine_resume's default cases
def test_killed_run_resumes_to_the_same_result(tmp_path):
    """A hard kill mid-epoch (os._exit), then the same command again: equals an unbroken run."""
    args = [
        *QUIET,
        "data=digits",
        "task.epochs=3",
        "model.width=32",
        "model.depth=2",
        "model.dropout=0.1",
        "task.checkpoint_every=1",
        "task.checkpoint_interval_s=0",
        "task.log_every=5",
    ]
    whole = run_cli(*args, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    # 1257 training digits / 64 = 20 steps per epoch: die at step 33, in the second epoch,
    # 13 steps after the checkpoint of epoch 1.
    killed = run_cli(
        *args, f"hydra.run.dir={tmp_path / 'resumed'}", cwd=tmp_path, env={FAULT_ENV: "33"}
    )
    assert killed.returncode == 3
    assert not (tmp_path / "resumed" / "summary.json").exists()
    logged = pd.read_csv(tmp_path / "resumed" / "metrics.csv")
    assert logged["step"].max() == 30  # rows after the checkpoint were written before the kill
    resumed = run_cli(*args, f"hydra.run.dir={tmp_path / 'resumed'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summaries = [
        json.loads((tmp_path / d / "summary.json").read_text()) for d in ("whole", "resumed")
    ]
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy", "steps"):
        assert summaries[0][key] == summaries[1][key]
    curves = [pd.read_csv(tmp_path / d / "metrics.csv") for d in ("whole", "resumed")]
    pd.testing.assert_frame_equal(curves[0], curves[1])


def test_wall_time_counts_each_second_once_across_phases(tmp_path):
    """PDI stages and the main phase checkpoint in one process: their time is not added twice."""
    import time

    start = time.time()
    summary = execute(
        quiet_config(
            *SHORT,
            "init=pdi",
            "init.stages=[0.1,0.5]",
            "init.duration=[20]",
            "task.checkpoint_interval_s=0",
        ),
        tmp_path / "pdi",
    )
    elapsed = time.time() - start
    assert summary["status"] == "completed"
    assert 0 < summary["wall_time_s"] <= elapsed
    phases = pd.read_csv(tmp_path / "pdi" / "metrics.csv")["phase"].unique().tolist()
    assert phases == ["pdi_stage0", "pdi_stage1", "train"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_like_fp32(tmp_path, precision):
    """Autocast (and fp16 loss scaling) changes rounding, not what is learned."""
    full = execute(quiet_config(*SHORT, "optim.lr=0.01"), tmp_path / "fp32")
    mixed = execute(
        quiet_config(*SHORT, "optim.lr=0.01", f"task.precision={precision}"), tmp_path / precision
    )
    assert mixed["status"] == "completed"
    assert mixed["train_loss"] != full["train_loss"]  # it did run in lower precision
    assert mixed["test_accuracy"] == pytest.approx(full["test_accuracy"], abs=0.05)
    assert mixed["train_loss"] == pytest.approx(full["train_loss"], rel=0.25, abs=0.05)


def test_micro_batches_take_the_whole_batch_step(tmp_path):
    """Pieces of 16 of a 64-example batch, gradients accumulated, give the step of the whole
    batch (an MLP without BatchNorm: the same numbers up to float32 summation order), and an
    uneven split (64 = 3 x 20 + 4) weights each piece by its share."""
    args = (*SHORT, "optim.lr=0.01")
    whole = execute(quiet_config(*args), tmp_path / "whole")
    for n in (16, 20):
        pieces = execute(quiet_config(*args, f"task.micro_batch={n}"), tmp_path / f"micro{n}")
        for key in ("train_loss", "test_loss", "test_accuracy"):
            assert pieces[key] == pytest.approx(whole[key], rel=1e-4, abs=1e-5), (n, key)
    curves = [pd.read_csv(tmp_path / d / "metrics.csv") for d in ("whole", "micro20")]
    logged = [c["train_batch_loss"].dropna().to_numpy() for c in curves]
    assert len(logged[0]) > 0 and logged[0] == pytest.approx(logged[1], rel=1e-4)


def test_a_micro_batch_below_one_is_refused(tmp_path):
    from initlab.config import ConfigError

    with pytest.raises(ConfigError, match="task.micro_batch"):
        execute(quiet_config(*SHORT, "task.micro_batch=0"), tmp_path / "bad")


def test_batchnorm_pieces_of_one_are_refused_and_a_last_single_joins_the_one_before(tmp_path):
    import torch

    from initlab.config import ConfigError
    from initlab.training import split_pieces

    with pytest.raises(ConfigError, match="task.micro_batch: pieces of 1 example"):
        execute(quiet_config(*SHORT, "model=resnet_bn", "task.micro_batch=1"), tmp_path / "bn")
    rows = torch.arange(7)
    assert [len(p) for p in split_pieces(rows, 3)] == [3, 3, 1]
    assert [len(p) for p in split_pieces(rows, 3, single_ok=False)] == [3, 4]
    assert torch.equal(torch.cat(split_pieces(rows, 3, single_ok=False)), rows)

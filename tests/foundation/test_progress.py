"""Progress off a terminal: log lines with what a task is on and the time left, in Hydra's
``train.log`` of the run and on stderr."""

from __future__ import annotations

import pytest

from initlab.tracking import (
    LoggerConfig,
    Progress,
    WandbConfig,
    configure_progress,
    reset_progress,
)
from tests.conftest import QUIET, run_train

EVERY = "logger.progress_every_s=1e-9"  # a line at every update
LINES = "logger.progress=auto"  # off a terminal: log lines (QUIET says off)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data=iris", "task.epochs=2", "model.width=8"], "train: "),
        (
            [
                "task=lr_search",
                "model.depth=1",
                "model.width=8",
                "task.steps=3",
                "task.samples=64",
                "task.max_probes=3",
            ],
            "lr_search: ",
        ),  # fmt: skip
        (
            [
                "task=grid_search",
                "data=iris",
                "data.val_fraction=0.2",
                "task.epochs=1",
                "task.smoothing=1",
                "task.grid.model.depth=[1]",
                "task.grid.optim.lr=[0.1]",
                "model.width=8",
            ],
            "grid_search: 1/1 members",
        ),  # fmt: skip
        (
            ["task=hessian", "data=iris", "model.depth=1", "model.width=4", "task.max_iter=5"],
            "lanczos: ",
        ),  # fmt: skip
        (
            [
                "task=selu_theory",
                "task.grid_points=3",
                "task.variance_grid_points=3",
                "task.fixed_point_grid_points=2",
                "task.field_points=3",
            ],
            "selu theory: 5/5 parts",
        ),
        # the other tasks' lines run with -m slow (each is the same Progress, called per unit)
        pytest.param(
            ["task=activation_stats", "data=digits", "model.depth=3", "model.width=8"],
            "activation statistics: ",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            [
                "task=angles",
                "data=digits",
                "model.depth=2",
                "model.width=8",
                "task.seeds=2",
                "task.examples=32",
                "task.data_pairs=16",
                "task.pairs_per_cosine=4",
            ],
            "angles: ",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            [
                "task=hessian_structure",
                "data=iris",
                "model.depth=1",
                "model.width=4",
                "task.samples=32",
                "task.chunk_size=16",
            ],
            "dense hessian: ",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["task=sklearn_baselines", "data=iris", "data.val_fraction=0.2"],
            "sklearn_baselines: ",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            [
                "task=train_vae",
                "model=resnet_vae",
                "model.resolution=16",
                "model.depth=14",
                "model.width=8",
                "data=digits",
                "data.max_train=32",
                "task.epochs=1",
                "task.batch_size=16",
                "task.grid_examples=0",
            ],
            "elapsed",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_progress_lines_reach_train_log_and_stderr(tmp_path, overrides, expected):
    out = tmp_path / "run"
    done = run_train(*QUIET, LINES, EVERY, *overrides, f"hydra.run.dir={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    logged = (out / "train.log").read_text()
    assert expected in logged and "elapsed" in logged
    assert expected in done.stderr


def test_progress_off_prints_no_progress_line(tmp_path):
    out = tmp_path / "run"
    done = run_train(*QUIET, EVERY, "data=iris", "task.epochs=2", "model.width=8",
                     f"hydra.run.dir={out}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "elapsed" not in done.stderr
    assert "elapsed" not in (out / "train.log").read_text()


def test_a_line_says_how_far_and_how_long_is_left():
    configure_progress(
        LoggerConfig(progress="off", progress_every_s=0.0, wandb=WandbConfig(
            mode="disabled", project="p", entity=None, group=None, name=None, job_type=None,
            tags=[], init_timeout_s=30.0))
    )  # fmt: skip
    bar = Progress(10, "probe", unit="step")
    bar.started -= 4.0  # 4 s for the first 4 steps: 6 steps, about 6 s, are left
    bar.update(4, "loss 1.2")
    line = bar.line()
    assert line.startswith("probe: 4/10 steps (loss 1.2), 0m04s elapsed")
    assert "about 0m06s left" in line or "about 0m05s left" in line


def test_nested_progress_estimates_the_whole_task_and_says_at_most_for_a_bound():
    """A probe's steps inside a search of up to 4 probes: after 1.5 probes in 3 s, the line
    reads both levels and the time left is the whole search's (2.5 probes at 2 s each)."""
    configure_progress(
        LoggerConfig(progress="off", progress_every_s=0.0, wandb=WandbConfig(
            mode="disabled", project="p", entity=None, group=None, name=None, job_type=None,
            tags=[], init_timeout_s=30.0))
    )  # fmt: skip
    reset_progress()
    search = Progress(4, "lr_search", unit="probe", bound=True)
    search.update(1, "lr 0.1: stable")
    probe = Progress(10, "probe", unit="step")
    probe.update(5)
    now = search.started + 3.0
    assert search.fraction() == 1.5 / 4
    line = search.line(now)
    assert line.startswith("lr_search: 1/4 probes (lr 0.1: stable) > probe: 5/10 steps, 0m03s")
    assert line.endswith("at most about 0m05s left"), line
    probe.close()
    assert search.child is None and search.fraction() == 1 / 4
    search.close()


def test_the_run_announces_its_work_and_train_log_ends_with_the_status_line(tmp_path):
    out = tmp_path / "run"
    done = run_train(*QUIET, LINES, "data=iris", "task.epochs=1", "model.width=8",
                     f"hydra.run.dir={out}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    logged = (out / "train.log").read_text().splitlines()
    assert "initlab: starting task=train model=mlp init=he data=iris seed=0" in done.stderr
    assert any("train: " in line and " steps to do" in line for line in logged), logged
    assert logged[-1].endswith(done.stdout.strip().splitlines()[-1]), (logged, done.stdout)
    assert logged[-1].split(" - ", 1)[1].startswith("initlab: completed (")

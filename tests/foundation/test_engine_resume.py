"""Kill -9 at random points and preemption signals, per task type: the resumed run ends with
the numbers and the rows (``metrics.csv`` and the task's own tables) of an uninterrupted run.

Each case runs ``train.py`` three times (uninterrupted, killed, resumed) as a user would, so it
is a subprocess test; the kill point is drawn from a seeded generator within the run's steps.
``scripts/fault_matrix.py`` counts these cases (tried / clean) next to the fault cases.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from initlab.meter import MEASURED_KEYS
from initlab.preemption import EXIT_CODE
from initlab_harness.faults import FAULT_ENV, FAULT_PROGRESS_ENV, SIGNAL_ENV
from tests.conftest import QUIET, run_cli, run_train

VOLATILE = {"wall_time_s", "finished_at", "git_commit", "versions", "skipped", *MEASURED_KEYS}

# name: (overrides, total optimizer steps of the whole run, task files to compare)
CASES = {
    "train": (
        ["data=digits", "task.epochs=3", "model.width=16", "model.depth=2", "task.log_every=7",
         "task.checkpoint_interval_s=0"],
        3 * 20,
        [],
    ),
    "train_mid_epoch_checkpoints": (
        ["data=digits", "task.epochs=2", "model.width=16", "model.depth=2", "task.log_every=5",
         "runtime.checkpoint_every_steps=4"],
        2 * 20,
        [],
    ),
    "pdi": (
        ["data=digits", "init=pdi", "init.stages=[0.1,1.0]", "init.duration=[6]",
         "task.epochs=1", "model.width=16", "model.depth=2", "task.log_every=5"],
        6 + 6 + 20,
        [],
    ),
    "lr_search": (
        ["task=lr_search", "model.depth=2", "model.width=16", "task.steps=6",
         "task.samples=128", "task.max_probes=6"],
        12,  # the first probes (6 steps each; later ones may stop at divergence)
        ["lr_probes.csv"],
    ),
    "grid_search": (
        ["task=grid_search", "data=iris", "data.val_fraction=0.2", "task.epochs=2",
         "task.smoothing=1", "task.batch_size=16", "task.grid.model.depth=[1]",
         "task.grid.optim.lr=[0.01,0.1]", "model.width=8", "task.stacked=false"],
        2 * 2 * 6,  # one by one (stacked is the default)
        ["grid.csv", "selected.csv"],
    ),
    "grid_search_stacked": (
        ["task=grid_search", "data=iris", "data.val_fraction=0.2", "task.epochs=2",
         "task.smoothing=1", "task.batch_size=16", "task.grid.model.depth=[1,2]",
         "task.grid.optim.lr=[0.01,0.1]", "model.width=8", "task.stacked=true"],
        2 * 2 * 6,
        ["grid.csv", "selected.csv"],
    ),
    "train_vae": (
        ["task=train_vae", "model=resnet_vae", "model.resolution=16", "model.depth=14",
         "model.width=8", "data=digits", "data.max_train=64", "task.epochs=3",
         "task.batch_size=16", "task.log_every=3", "task.checkpoint_interval_s=0",
         "task.grid_examples=0"],
        3 * 4,
        [],
    ),
    "angles_trained": (
        ["task=angles", "data=digits", "model.width=16", "model.depth=2", "task.seeds=2",
         "task.train=true", "task.epochs=1", "task.examples=64", "task.data_pairs=32",
         "task.pairs_per_cosine=4"],
        2 * 20,  # two draws, one epoch each
        ["angles.csv", "draws.csv"],
    ),
}  # fmt: skip


def _numbers(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k not in VOLATILE}


def _tables(out: Path, files: list[str]) -> dict[str, pd.DataFrame]:
    names = [*files, "metrics.csv"] if (out / "metrics.csv").exists() else files
    return {name: pd.read_csv(out / name) for name in names}


def _assert_same_run(a: Path, b: Path, files: list[str]) -> None:
    assert _numbers(a) == _numbers(b)
    ta, tb = _tables(a, files), _tables(b, files)
    assert ta.keys() == tb.keys()
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], obj=name)


def interrupt_and_resume(
    tmp_path: Path, overrides: list[str], env: dict, expect_rc: int
) -> tuple[Path, str]:
    """Interrupt (a kill needs its own process; a signal is delivered to this one), resume."""
    out = tmp_path / "interrupted"
    args = [*QUIET, *overrides, f"hydra.run.dir={out}"]
    interrupt = run_cli if {FAULT_ENV, FAULT_PROGRESS_ENV} & set(env) else run_train
    first = interrupt(*args, cwd=tmp_path, env=env)
    assert first.returncode == expect_rc, first.stderr[-2000:]
    second = run_train(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    return out, first.stderr


def _reference(tmp_path: Path, overrides: list[str]) -> Path:
    out = tmp_path / "uninterrupted"
    done = run_train(*QUIET, *overrides, f"hydra.run.dir={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


# the default suite runs one case per kind of loop; the others run with -m slow
SLOW = {"train_mid_epoch_checkpoints", "pdi", "grid_search_stacked"}


def _params(names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", _params(list(CASES)))
def test_kill_at_a_random_step_then_resume_equals_uninterrupted(tmp_path, name):
    overrides, total, files = CASES[name]
    step = random.Random(name).randint(1, total - 1)  # a kill -9 (os._exit) after this step
    reference = _reference(tmp_path, overrides)
    resumed, _ = interrupt_and_resume(tmp_path, overrides, {FAULT_ENV: str(step)}, 3)
    _assert_same_run(reference, resumed, files)


@pytest.mark.parametrize("name", ["train", "lr_search", "grid_search"])
def test_preemption_signal_checkpoints_and_the_requeue_resumes(tmp_path, name):
    overrides, total, files = CASES[name]
    step = random.Random(f"signal-{name}").randint(1, total - 1)
    reference = _reference(tmp_path, overrides)
    resumed, stderr = interrupt_and_resume(tmp_path, overrides, {SIGNAL_ENV: str(step)}, EXIT_CODE)
    lines = [line for line in stderr.splitlines() if line.startswith("initlab:")]
    assert lines and "preempted by SIGUSR1" in lines[-1]
    assert "Traceback" not in stderr
    _assert_same_run(reference, resumed, files)


def test_signal_mid_epoch_writes_a_checkpoint_at_that_step(tmp_path):
    overrides = CASES["train"][0]
    out = tmp_path / "run"
    done = run_train(*QUIET, *overrides, f"hydra.run.dir={out}", cwd=tmp_path,
                     env={SIGNAL_ENV: "30"})  # fmt: skip
    assert done.returncode == EXIT_CODE
    import torch

    state = torch.load(out / "checkpoint.pt", weights_only=True)  # no code needed
    assert state["step"] == 30 and state["batch_index"] == 30 - 20  # mid-way through epoch 2
    assert json.loads((out / "summary.json").read_text())["status"] == "preempted"


HESSIAN = ["task=hessian", "data=iris", "model.depth=1", "model.width=4", "task.max_iter=8",
           "task.trace_probes=4", "task.slq_probes=2", "task.slq_steps=4"]  # fmt: skip


@pytest.mark.parametrize("stage", ["lanczos", "trace"])
def test_hessian_killed_after_a_stage_resumes_at_the_next(tmp_path, stage):
    """A curvature run hard-killed after one stage (Lanczos, Hutchinson, SLQ) redoes only the
    later ones and ends as an uninterrupted run: summary, hessian.csv and spectrum.csv."""
    from initlab.checkpoints import load_file
    from initlab.tasks.hessian import STAGES_FILE
    from initlab_harness.faults import FAULT_STAGE_ENV

    reference = _reference(tmp_path, HESSIAN)
    out = tmp_path / "interrupted"
    args = [*QUIET, *HESSIAN, f"hydra.run.dir={out}"]
    first = run_cli(*args, cwd=tmp_path, env={FAULT_STAGE_ENV: stage})
    assert first.returncode == 3, first.stderr[-2000:]
    assert not (out / "hessian.csv").exists()  # killed before the run's results were written
    saved = load_file(out / STAGES_FILE, "test", "")  # LanczosResult: on the allow-list
    assert list(saved) == ["lanczos", "trace"][: ["lanczos", "trace"].index(stage) + 1]
    second = run_train(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    _assert_same_run(reference, out, ["hessian.csv", "spectrum.csv"])


def test_lanczos_killed_mid_way_resumes_at_its_saved_step(tmp_path):
    """A curvature run hard-killed in the middle of Lanczos (its state saved at every step here)
    resumes at that step, not at step 0, and ends as an uninterrupted run."""
    from initlab.tasks.hessian import LANCZOS_FILE
    from initlab_harness.faults import FAULT_LANCZOS_ENV

    overrides = [*HESSIAN, "runtime.checkpoint_every_steps=1", "task.tol=1e-12"]  # 8 steps
    reference = _reference(tmp_path, overrides)
    out = tmp_path / "interrupted"
    args = [*QUIET, *overrides, f"hydra.run.dir={out}"]
    first = run_cli(*args, cwd=tmp_path, env={FAULT_LANCZOS_ENV: "5"})
    assert first.returncode == 3, first.stderr[-2000:]
    import torch

    assert torch.load(out / LANCZOS_FILE, weights_only=True)["m"] == 5
    second = run_train(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "lanczos: resuming at step 5 of 8" in second.stdout + second.stderr  # not at 0
    assert not (out / LANCZOS_FILE).exists()
    _assert_same_run(reference, out, ["hessian.csv", "spectrum.csv"])


def test_a_preemption_signal_mid_lanczos_saves_its_state_and_the_requeue_resumes(tmp_path):
    from initlab.tasks.hessian import LANCZOS_FILE
    from initlab_harness.faults import SIGNAL_LANCZOS_ENV

    overrides = [*HESSIAN, "task.tol=1e-12"]  # every 600 s: only the signal saves
    reference = _reference(tmp_path, overrides)
    resumed, stderr = interrupt_and_resume(tmp_path, overrides, {SIGNAL_LANCZOS_ENV: "4"},
                                           EXIT_CODE)  # fmt: skip
    assert "preempted by SIGUSR1" in stderr and "Traceback" not in stderr
    assert not (resumed / LANCZOS_FILE).exists()
    _assert_same_run(reference, resumed, ["hessian.csv", "spectrum.csv"])


# tasks without optimizer steps, killed after a unit of their progress (a fit, a Hessian row, a
# layer, a draw, a theorem); they keep nothing partial, so the rerun redoes the work and must end
# as an uninterrupted run, with no rows of the killed attempt left
MEASUREMENTS = {
    "sklearn_baselines": (
        ["task=sklearn_baselines", "data=iris", "data.val_fraction=0.2"],
        5,
        ["baselines.csv", "selected.csv"],
    ),
    "hessian_structure": (
        ["task=hessian_structure", "data=iris", "model.depth=1", "model.width=4",
         "task.samples=64", "task.chunk_size=32"],
        7,
        ["hessian_blocks.csv", "hessian_matrix.csv"],
    ),
    "activation_stats": (
        ["task=activation_stats", "data=digits", "model.depth=6", "model.width=16"],
        3,
        ["activations.csv"],
    ),
    "angles": (
        ["task=angles", "data=digits", "model.width=16", "model.depth=3", "task.seeds=3",
         "task.examples=64", "task.data_pairs=32", "task.pairs_per_cosine=4"],
        2,
        ["angles.csv", "draws.csv"],
    ),
    "selu_theory": (
        ["task=selu_theory", "task.grid_points=5", "task.variance_grid_points=5",
         "task.fixed_point_grid_points=3", "task.field_points=5"],
        2,  # constants and Theorem 1 done
        ["selu_constants.csv", "alpha_dropout.csv", "selu_theorems.csv",
         "selu_vector_field.csv"],
    ),
}  # fmt: skip


#: the default suite kills two measurements (one of a model's Hessian, one of its features); the
#: others share their rerun path and run with -m slow
SLOW_MEASUREMENTS = {"sklearn_baselines", "activation_stats", "selu_theory"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_MEASUREMENTS else n
        for n in MEASUREMENTS
    ],
)
def test_kill_mid_measurement_then_rerun_equals_uninterrupted(tmp_path, name):
    overrides, units, files = MEASUREMENTS[name]
    reference = _reference(tmp_path, overrides)
    resumed, _ = interrupt_and_resume(tmp_path, overrides, {FAULT_PROGRESS_ENV: str(units)}, 3)
    _assert_same_run(reference, resumed, files)

"""Paths of the config (``data.root``, ``task.checkpoint``) are taken from the directory the
user started in, whatever ``hydra.job.chdir`` says, and messages name the absolute path."""

from __future__ import annotations

import json
import os

import pytest

from initlab.config import ConfigError, check, spec
from initlab.setup import parse_config
from initlab_harness.rehearsal.writers import write_mnist
from tests.conftest import QUIET, quiet_config, run_train

MNIST = ["data=mnist", "data.download=false", "data.val_fraction=0.25", "task.epochs=1",
         "model.width=8", "model.depth=1"]  # fmt: skip


def _one_error(done) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("initlab: error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


@pytest.mark.parametrize("chdir", ["true", "false"])
def test_a_relative_data_root_is_found_from_the_start_directory(tmp_path, chdir):
    write_mnist(tmp_path / "mnist_files", shape=(40, 12))
    out = tmp_path / "outputs" / "run"
    done = run_train(*QUIET, *MNIST, f"hydra.job.chdir={chdir}", "data.root=mnist_files",
                     f"hydra.run.dir={out}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    assert not (out / "mnist_files").exists()


def test_a_missing_relative_data_root_is_named_absolute(tmp_path):
    out = tmp_path / "outputs" / "run"
    done = run_train(*QUIET, *MNIST, "hydra.job.chdir=true", "data.root=data/raw",
                     f"hydra.run.dir={out}", cwd=tmp_path)  # fmt: skip
    line = _one_error(done)
    assert f"MNIST is not in {tmp_path / 'data' / 'raw' / 'MNIST' / 'raw'} " in line, line
    assert str(out / "data") not in line


def test_a_relative_task_checkpoint_is_found_from_the_start_directory(tmp_path):
    train = ["data=digits", "model.width=8", "model.depth=1"]
    done = run_train(*QUIET, *train, "task.epochs=1", f"hydra.run.dir={tmp_path / 'trained'}",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    hessian = [*QUIET, *train, "task=hessian", "task.max_iter=4", "hydra.job.chdir=true"]
    out = tmp_path / "measured"
    done = run_train(*hessian, "task.checkpoint=trained", f"hydra.run.dir={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    done = run_train(*hessian, "task.checkpoint=nowhere/checkpoint.pt",
                     f"hydra.run.dir={tmp_path / 'missing'}", cwd=tmp_path)  # fmt: skip
    line = _one_error(done)
    assert f"task.checkpoint: {tmp_path / 'nowhere' / 'checkpoint.pt'} does not exist" in line


def test_a_plain_dict_resolves_against_the_working_directory(tmp_path, monkeypatch):
    """``execute`` with a plain dict (a notebook, a test): the current directory is the start."""
    (tmp_path / "composed_here").mkdir()
    monkeypatch.chdir(tmp_path / "composed_here")
    resolved = quiet_config("data=mnist", "data.root=some/where")  # leaves Hydra's config set
    monkeypatch.chdir(tmp_path)
    setup = parse_config(resolved)
    assert setup.data.root == str(tmp_path / "some" / "where")
    home = os.path.expanduser("~")
    assert parse_config(quiet_config("data=mnist", "data.root='~/x'")).data.root == f"{home}/x"
    assert parse_config(quiet_config("data=mnist", "data.root=/abs")).data.root == "/abs"


def test_only_path_keys_are_resolved():
    from dataclasses import dataclass

    @dataclass(kw_only=True)
    class Schema:
        root: str = spec(path=True)
        name: str = spec()
        checkpoint: str | None = spec(path=True)

    typed = check({"root": "r", "name": "r", "checkpoint": None}, Schema, "x")
    assert os.path.isabs(typed.root) and typed.name == "r" and typed.checkpoint is None
    with pytest.raises(ConfigError, match="x.root: expected a string"):
        check({"root": 3, "name": "r", "checkpoint": None}, Schema, "x")

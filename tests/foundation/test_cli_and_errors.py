"""The command line as a user meets it: results location, bad configs, sweeps that keep going."""

from __future__ import annotations

import json

import pytest

from initlab.config import ConfigError
from initlab.setup import parse_config
from tests.conftest import QUIET, quiet_config, run_cli, run_train


def test_cli_runs_and_says_where_results_are(tmp_path):
    out = run_cli(*QUIET, "task.epochs=1", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"results in {tmp_path / 'r'}" in out.stdout
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "completed"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+model.dept=3", "model.dept: unknown key (did you mean model.depth?); allowed keys:"),
        ("model.depth=-1", "model.depth: -1 is out of range; allowed: >= 1"),
        ("optim.lr=0", "optim.lr: 0.0 is out of range; allowed: > 0.0"),
        (
            "model.activation=relux",
            "model.activation: 'relux' is not allowed (did you mean 'relu'?)",
        ),
        ("model.width=wide", "model.width: expected an integer, got 'wide'"),
        ("task.epochs=1.5", "task.epochs: expected an integer, got 1.5"),
        ("logger.wandb.mode=loud", "logger.wandb.mode: 'loud' is not allowed"),
        (
            "model.norm=group",
            "model.norm: 'group' is not allowed; allowed values: none, batch, layer",
        ),
        (f"seed={2**64}", f"seed: {2**64} is out of range; allowed: <= {2**32 - 1} and >= 0"),
        ("seed=-1", "seed: -1 is out of range; allowed: >= 0"),
        (f"data.seed={2**32}", "data.seed: 4294967296 is out of range"),
    ],
)
def test_bad_config_is_refused_with_a_message(override, message):
    with pytest.raises(ConfigError) as err:
        parse_config(quiet_config(override))
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model.depth=-4"], "initlab: error: model.depth: -4 is out of range"),
        # Hydra's own refusals, in initlab's one line
        (["model.dept=3"], "initlab: error: model.dept: unknown key (did you mean model.depth?)"),
        (["model=resnett"], "initlab: error: model: no option 'resnett' (did you mean 'resnet'?)"),
        (["init=fixup"], "fixup needs a model with residual branches"),
        (["data=mnist", "data.download=false"], "MNIST is not in"),
    ],
)
def test_cli_refuses_without_a_traceback(tmp_path, args, message):
    out = run_cli(*QUIET, *args, f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def _one_error(done) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("initlab: error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def test_seed_out_of_range_is_refused_before_any_work(tmp_path):
    out = tmp_path / "r"
    done = run_train(*QUIET, f"seed={2**64}", f"hydra.run.dir={out}", cwd=tmp_path)
    line = _one_error(done)
    assert line.startswith(f"initlab: error: seed: {2**64} is out of range; allowed:"), line
    assert not out.exists()


def test_a_refused_run_leaves_no_log_handler_on_its_removed_folder(tmp_path):
    """The refused run's folder is removed; Hydra's train.log handler must go with it, or the
    next run of this process (a test, a notebook) logs into the removed folder and fails."""
    import logging

    from initlab.tracking import log_files_only

    out = tmp_path / "r"
    done = run_train(*QUIET, f"seed={2**64}", f"hydra.run.dir={out}", cwd=tmp_path)
    assert done.returncode != 0 and not out.exists()
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    assert not [h for h in files if h.baseFilename.startswith(str(out))]
    log_files_only("a later line")  # reaches no handler of the removed folder
    assert not out.exists()


def test_a_run_dir_name_too_long_for_the_file_system_is_one_line(tmp_path):
    out = tmp_path / ("x" * 300) / "run"
    line = _one_error(run_train(*QUIET, f"hydra.run.dir={out}", cwd=tmp_path))
    assert "hydra.run.dir: cannot create" in line and "is 300 bytes long" in line, line
    assert "choose a shorter output directory" in line


@pytest.mark.parametrize("below", ["", "run"])
def test_a_run_dir_under_a_dangling_symlink_is_one_line(tmp_path, below):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    out = tmp_path / "link" / below if below else tmp_path / "link"
    line = _one_error(run_train(*QUIET, f"hydra.run.dir={out}", cwd=tmp_path))
    assert (
        f"{tmp_path / 'link'} is a symbolic link to {tmp_path / 'gone'}, which does not exist"
        in line
    )
    assert not (tmp_path / "gone").exists()


def test_a_failing_sweep_member_is_recorded_and_the_sweep_goes_on(tmp_path):
    out = run_cli(
        "-m",
        *QUIET,
        "model=mlp,resnet",
        "init=fixup",
        "task.epochs=1",
        "data=iris",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra.sweep.subdir=${model.name}",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    mlp = json.loads((tmp_path / "sweep" / "mlp" / "summary.json").read_text())
    resnet = json.loads((tmp_path / "sweep" / "resnet" / "summary.json").read_text())
    assert mlp["status"] == "failed" and "residual branches" in mlp["error"]
    assert resnet["status"] == "completed"


def test_slurm_launcher_config_composes(tmp_path):
    out = run_cli(
        "hydra/launcher=slurm", "--cfg", "hydra", "--package", "hydra.launcher", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in out.stdout
    assert "gpus_per_node: 1" in out.stdout


def test_every_shipped_option_parses():
    """Each YAML of each group passes its schema (a YAML missing a schema key fails here)."""
    from initlab.compose import CONF_DIR

    for group in ("model", "init", "data", "task", "optim", "logger"):
        for path in sorted((CONF_DIR / group).glob("*.yaml")):
            parse_config(quiet_config(f"{group}={path.stem}"))

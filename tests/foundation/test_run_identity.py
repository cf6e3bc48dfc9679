"""A run is identified by its recorded keys: its folder is named after them, a re-run with other
logger/device/runtime keys finds it, and collect refuses two runs of one identity."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

import initlab.experiments as experiments
from initlab.collect import DuplicateRunError, collect
from initlab.columns import MAX_RUN_NAME, run_identity, run_name, summary_identity
from initlab.experiments import run_experiment, sweep_dir


def test_a_run_is_named_by_its_recorded_keys_and_seed_in_record_order():
    values = {"arm": "resnet_he", "model.depth": 4, "profile": "quick"}
    identity = run_identity(values, seed=1)
    assert identity == {"arm": "resnet_he", "model.depth": 4, "seed": 1}  # profile names the sweep
    assert run_name(identity) == "arm=resnet_he,model.depth=4,seed=1"
    assert run_name({"optim.lr": 1e-05, "task.stacked": True}) == "optim.lr=1e-05,task.stacked=true"
    summary = {"status": "completed", "seed": 2, "recorded": {"init": "he", "profile": "quick"}}
    assert summary_identity(summary) == {"init": "he", "seed": 2}
    assert summary_identity({"status": "failed", "error": "refused"}) is None


def test_a_long_or_unsafe_name_is_cut_and_hashed_stably_and_distinctly():
    widths = run_name({"model.widths": [1024, 512, 256], "seed": 0})
    assert "/" not in widths and "[" not in widths and ",sha=" in widths
    assert widths == run_name({"model.widths": [1024, 512, 256], "seed": 0})  # stable
    assert widths != run_name({"model.widths": [1024, 512, 255], "seed": 0})
    path = run_name({"data.root": "data/raw", "seed": 0})
    assert "/" not in path and path != run_name({"data.root": "data_raw", "seed": 0})
    long = {"data.dataset": "x" * 300, "seed": 0}
    assert len(run_name(long)) <= MAX_RUN_NAME
    assert run_name(long) != run_name({"data.dataset": "x" * 299, "seed": 0})


def test_the_hydra_resolver_names_a_folder_from_the_jobs_config():
    from omegaconf import OmegaConf

    import initlab.columns  # noqa: F401 - registers ${initlab.run_name:}

    cfg = OmegaConf.create(
        {
            "record": ["init", "model.depth"],
            "init": {"name": "he", "gain": "${oc.env:INITLAB_NOT_SET_ANYWHERE}"},  # not read
            "model": {"depth": "${depth}"},
            "depth": 3,
            "seed": 7,
            "profile": "quick",
            "logger": {"wandb": {"mode": "offline"}},
            "subdir": "${initlab.run_name:}",
        }
    )
    assert cfg.subdir == "init=he,model.depth=3,seed=7"
    cfg.record = ["model.dept"]  # the run refuses this key in one line; the folder is named
    assert cfg.subdir == "record-error"


def test_every_experiment_records_every_key_its_sweep_varies():
    for profile in ("quick", "full"):
        for name in experiments.discover(profile):
            assert experiments.unrecorded_sweep_keys(name, profile, []) == [], (name, profile)


def test_a_sweep_over_a_key_that_is_not_recorded_is_refused_before_anything_runs(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    assert run_experiment("smoke_train", "quick", ["model.width=8,16"], tmp_path / "r") == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("initlab: error: smoke_train: ")
    assert "model.width" in err[0] and "record" in err[0]
    assert not (tmp_path / "outputs").exists()
    # recording it makes the sweep acceptable
    assert (
        experiments.unrecorded_sweep_keys(
            "smoke_train", "quick", ["model.width=range(8,24,8)", "record=[init,seed,model.width]"]
        )
        == []
    )
    assert (
        experiments.unrecorded_sweep_keys("smoke_train", "quick", ["init=choice(he,lecun)"]) == []
    )
    # an experiment whose own params sweep with range()/choice()
    params = {"init": "he", "model.width": "range(8,24,8)"}
    monkeypatch.setattr(experiments, "_params", lambda config: params)
    assert experiments.unrecorded_sweep_keys("smoke_train", "quick", []) == ["model.width"]


@pytest.mark.slow  # in the fault matrix (scripts/fault_matrix.py runs slow cases too)
def test_a_rerun_with_logger_and_device_keys_runs_nothing_and_collects_the_same_rows(
    tmp_path, monkeypatch, capfd
):
    """The README's W&B recipe re-ran every run into new folders and collect counted both."""
    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    results = tmp_path / "results"
    table = results / "quick" / "smoke_train" / "summary.csv"
    # a sweep narrowed with Hydra's range()/choice(): folders are still named by init and seed
    narrowed = ["init=choice(he,xavier)", "seed=range(3,5)"]
    assert run_experiment("smoke_train", "quick", narrowed, results_root=results) == 0
    folders = sorted(p.name for p in sweep_dir("smoke_train", "quick").iterdir())
    runs = [f for f in folders if not f.startswith(".") and f != "multirun.yaml"]
    assert runs == ["init=he,seed=3", "init=he,seed=4", "init=xavier,seed=3", "init=xavier,seed=4"]
    first = pd.read_csv(table)
    assert sorted(first["run"]) == runs and (first["status"] == "completed").all()

    capfd.readouterr()
    extra = ["logger.wandb.mode=offline", "logger.progress=off", "device=cpu"]
    extra += ["runtime.checkpoint_every_s=5"]
    assert run_experiment("smoke_train", "quick", [*narrowed, *extra], results_root=results) == 0
    assert capfd.readouterr().out.count("initlab: already completed") == 4
    assert sorted(p.name for p in sweep_dir("smoke_train", "quick").iterdir()) == folders
    assert not list(sweep_dir("smoke_train", "quick").rglob("offline-run-*"))  # nothing ran
    pd.testing.assert_frame_equal(pd.read_csv(table), first)


def _write_run(directory, status="completed", recorded=None, seed=0, **values):
    directory.mkdir(parents=True)
    recorded = recorded or {"init": "he", "seed": seed, "profile": "quick"}
    summary = {"status": status, "seed": seed, "recorded": recorded, **values}
    (directory / "summary.json").write_text(json.dumps(summary))
    (directory / "metrics.csv").write_text("step,train_loss\n1,0.5\n")


def _no_sweep(monkeypatch):
    monkeypatch.setattr(experiments, "run_child", lambda *a, **k: 0)


@pytest.mark.parametrize("status", ["completed", "failed", "preempted"])
def test_two_runs_of_one_identity_are_refused_in_one_line(tmp_path, monkeypatch, capfd, status):
    """What the README's old W&B recipe left: each run twice, once with the logger key in its
    folder's name. Collect counted both; now the experiment stops with one line naming the keys
    and both folders, and no table is written."""
    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    sweep = sweep_dir("smoke_train", "quick")
    _write_run(sweep / "init=he,seed=0", test_accuracy=0.5)
    _write_run(sweep / "init=he,logger.wandb.mode=offline,seed=0", status, test_accuracy=0.5)
    _write_run(sweep / "init=xavier,seed=0", recorded={"init": "xavier", "seed": 0})
    with pytest.raises(DuplicateRunError, match="init=he, seed=0"):
        collect(sweep, tmp_path / "direct")
    assert not (tmp_path / "direct").exists()

    _no_sweep(monkeypatch)
    capfd.readouterr()
    assert run_experiment("smoke_train", "quick", results_root=tmp_path / "results") == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("initlab: error: ")
    assert "init=he,logger.wandb.mode=offline,seed=0" in err[0] and "init=he,seed=0 (" in err[0]
    assert "(init=he, seed=0)" in err[0] and f"({status})" in err[0]
    assert not (tmp_path / "results" / "quick" / "smoke_train").exists()


def test_runs_named_by_their_overrides_are_renamed_to_their_identity(tmp_path, monkeypatch, capfd):
    """Run folders of an earlier version (named by every override) are found, not run again."""
    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    sweep = sweep_dir("smoke_train", "quick")
    _write_run(sweep / "init=he,logger.wandb.mode=offline,seed=0")
    _write_run(sweep / "init=xavier,seed=0", recorded={"init": "xavier", "seed": 0})
    (sweep / "no-summary").mkdir()
    (sweep / "refused").mkdir()
    (sweep / "refused" / "summary.json").write_text('{"status": "failed", "error": "x"}')
    _no_sweep(monkeypatch)
    assert run_experiment("smoke_train", "quick", results_root=tmp_path / "results") == 0
    out = capfd.readouterr().out
    assert "renamed" in out and out.count("renamed") == 1
    names = sorted(p.name for p in sweep.iterdir() if not p.name.startswith("."))
    assert names == ["init=he,seed=0", "init=xavier,seed=0", "no-summary", "refused"]
    table = pd.read_csv(tmp_path / "results" / "quick" / "smoke_train" / "summary.csv")
    assert sorted(table["run"]) == ["init=he,seed=0", "init=xavier,seed=0", "refused"]


def test_wandb_sync_replays_runs_that_had_wandb_off_without_training(tmp_path, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import wandb_sync

    run = tmp_path / "sweep" / "init=he,seed=0"
    _write_run(run, test_accuracy=0.75)
    (run / "metrics.csv").write_text("step,phase,train_loss\n1,train,0.5\n2,train,0.25\n2,eval,\n")
    config = {
        "task": {"name": "train"},
        "model": {"name": "mlp"},
        "init": {"name": "he"},
        "data": {"name": "iris"},
        "seed": 0,
        "logger": {"wandb": {"mode": "disabled", "project": "initlab", "group": "smoke_train"}},
    }
    (run / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    (run / ".wandb_id").write_text("abc123-00ff")
    monkeypatch.setenv("WANDB_SILENT", "true")
    synced = []

    monkeypatch.setattr(wandb_sync, "push", lambda runs: synced.append(runs) or 0)
    assert wandb_sync.main([str(tmp_path / "sweep")]) == 1  # nothing to sync without --replay
    assert wandb_sync.main([str(tmp_path / "sweep"), "--replay", "--dry-run"]) == 0
    assert not (run / "wandb").exists() and not synced
    assert wandb_sync.main([str(tmp_path / "sweep"), "--replay"]) == 0
    (offline,) = wandb_sync.offline_runs(tmp_path / "sweep")
    assert offline.name.endswith("-abc123-00ff")  # the run's own W&B id
    blob = (offline / "run-abc123-00ff.wandb").read_bytes()
    assert b"smoke_train" in blob and b"train_loss" in blob and b"train-mlp-he-iris-s0" in blob
    assert synced == [[offline]]
    # a second call replays nothing more
    assert wandb_sync.runs_without_wandb(tmp_path / "sweep") == []


def test_a_changed_key_outside_the_identity_is_refused_before_anything_runs(
    tmp_path, monkeypatch, capfd
):
    """Re-running with model.width=32 would find each run's folder holding another config;
    before, it ran into new folders and collect counted both."""
    from initlab.run import NON_SEMANTIC_KEYS

    assert set(experiments.WATCH_ONLY_KEYS) == set(NON_SEMANTIC_KEYS)
    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    run = sweep_dir("smoke_train", "quick") / "init=he,seed=0"
    _write_run(run)
    config = {"model": {"name": "mlp", "width": 16}, "data": {"name": "iris"}, "seed": 0}
    (run / "config.yaml").write_text(json.dumps(config))
    (run / ".hydra").mkdir()  # Hydra's copy holds the last command's config: not the run's
    (run / ".hydra" / "config.yaml").write_text(json.dumps({**config, "model": {"width": 8}}))
    check = experiments.changed_unrecorded_keys
    assert check("smoke_train", "quick", ["model.width=32"]) == [
        ("model.width=32", "model.width", "init=he,seed=0", 16)
    ]
    assert check("smoke_train", "quick", ["model.width=16", "data=iris"]) == []
    assert check("smoke_train", "quick", ["init=xavier", "seed=3", "device=cpu"]) == []
    assert check("smoke_train", "quick", ["logger.wandb.mode=offline"]) == []
    assert check("smoke_train", "quick", ["data=wine"]) == [("data=wine", "data", run.name, "iris")]
    assert check("smoke_train", "quick", ["model.width=32", "record=[init,model.width]"]) == []

    _no_sweep(monkeypatch)
    capfd.readouterr()
    assert run_experiment("smoke_train", "quick", ["model.width=32"], tmp_path / "r") == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("initlab: error: smoke_train: model.width=32 ")
    assert "(model.width=16 in init=he,seed=0)" in err[0]


def test_the_gpu_plan_reads_a_runs_overrides_not_its_folder_name():
    from initlab_harness.rehearsal.gpu_plan import _point

    row = {"run": "arm=fnn_snn,data.dataset=iris", "overrides": '["+arm=fnn_snn", "data=uci121"]'}
    assert _point(row) == ["arm=fnn_snn", "data=uci121"]  # arm is in the defaults list now
    # a costs.csv written before (its folders were named by their overrides)
    old = {"run": "+arm=fnn_snn,data.dataset=iris,data=uci121", "overrides": float("nan")}
    assert _point(old) == ["arm=fnn_snn", "data.dataset=iris", "data=uci121"]


def test_a_changed_experiment_file_is_refused_before_the_sweep(tmp_path, monkeypatch, capfd):
    """Runs made before the experiment's file changed (a key it sets, not on the command line)
    would each be refused as another config while the sweep still exited 0 and collect
    re-collected the old tables: the sweep is refused up front, in one line."""
    from initlab.compose import compose

    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    _no_sweep(monkeypatch)
    run = sweep_dir("smoke_train", "quick") / "init=he,seed=0"
    (run / ".hydra").mkdir(parents=True)
    point = ["init=he", "seed=0"]
    (run / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump(["experiment=smoke_train", "profile=quick", *point])
    )
    config = compose(["experiment=smoke_train", "profile=quick", *point])
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert experiments.identity_problem("smoke_train", "quick", []) is None
    config["model"]["width"] = 999  # what the file said when the run was made
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    capfd.readouterr()
    assert run_experiment("smoke_train", "quick", [], tmp_path / "r") == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the experiment's config changed" in err[0]
    assert "model.width=999 in init=he,seed=0, now 16" in err[0]

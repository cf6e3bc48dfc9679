"""What reaches W&B, checked against a stand-in ``wandb`` module that records every call:
a sweep member's group and name, a run's tables and figures as an artifact, the report."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from initlab.main import name_sweep_member
from initlab.tracking import LoggerConfig, Tracker, WandbConfig, log_report


class FakeRun:
    def __init__(self, calls: list, **kwargs) -> None:
        self.calls, self.kwargs, self.id = calls, kwargs, kwargs.get("id") or "rid"
        self.summary: dict = {}

    def log(self, values, step=None):
        self.calls.append(("log", sorted(values), step))

    def log_artifact(self, artifact):
        self.calls.append(("artifact", artifact.name, artifact.type, sorted(artifact.files)))

    def finish(self, exit_code=0):
        self.calls.append(("finish", exit_code))


class FakeArtifact:
    def __init__(self, name, type):  # noqa: A002 - wandb's own keyword
        self.name, self.type, self.files = name, type, []

    def add_file(self, path, name=None):
        self.files.append(name or Path(path).name)


@pytest.fixture
def fake_wandb(monkeypatch):
    calls: list = []
    module = types.ModuleType("wandb")
    module.init = lambda **kw: calls.append(("init", kw)) or FakeRun(calls, **kw)
    module.Artifact = FakeArtifact
    module.Image = lambda path: ("image", Path(path).name)
    module.Settings = lambda **kw: kw
    monkeypatch.setitem(sys.modules, "wandb", module)
    return calls


def _logger(mode="offline") -> LoggerConfig:
    return LoggerConfig(progress="off", progress_every_s=0.0, wandb=WandbConfig(
        mode=mode, project="p", entity=None, group="g", name=None, job_type="train", tags=[],
        init_timeout_s=30.0))  # fmt: skip


def test_a_run_logs_its_tables_and_figures_as_an_artifact(tmp_path, fake_wandb):
    tracker = Tracker(tmp_path, _logger(), run_name="n", run_id="abc", config={})
    tracker.log({"step": 1, "train_loss": 0.5})
    for name in ("summary.json", "grid.csv", "curve.png", "checkpoint.pt", ".wandb_id"):
        (tmp_path / name).write_text("x")
    tracker.finish({"status": "completed"}, failed=False)
    artifact = next(c for c in fake_wandb if c[0] == "artifact")
    assert artifact == ("artifact", "run-abc", "run-files",
                        ["curve.png", "grid.csv", "metrics.csv", "summary.json"])  # fmt: skip
    assert fake_wandb[-1] == ("finish", 0)


def test_every_phase_reaches_wandb_though_its_steps_start_again(tmp_path, fake_wandb):
    # W&B drops a row whose step= is below the last one; a PDI stage's steps restart at 0
    tracker = Tracker(tmp_path, _logger(), run_name="n", run_id="abc", config={})
    rows = [
        {"step": 5, "phase": "pdi_stage0", "loss": 1.0},
        {"step": 0, "phase": "train", "loss": 2.0},
    ]
    for row in rows:
        tracker.log(row)
    logged = [c for c in fake_wandb if c[0] == "log"]
    assert logged == [("log", sorted(row), None) for row in rows]


def test_a_sweep_member_is_grouped_by_its_sweep_and_named_by_its_overrides():
    hydra_cfg = SimpleNamespace(
        sweep=SimpleNamespace(dir="multirun/2026-12-07/11-30-00"),
        overrides=SimpleNamespace(task=["model=resnet", "seed=1", "hydra.verbose=true"]),
    )
    resolved = {"logger": {"wandb": {"group": None, "name": None}}}
    name_sweep_member(resolved, hydra_cfg)
    assert resolved["logger"]["wandb"] == {
        "group": "sweep 2026-12-07/11-30-00",
        "name": "model=resnet,seed=1",
    }
    # an experiment's group (and a name given on the line) stay as they are
    resolved = {"logger": {"wandb": {"group": "e4_uci_fnn", "name": "mine"}}}
    name_sweep_member(resolved, hydra_cfg)
    assert resolved["logger"]["wandb"] == {"group": "e4_uci_fnn", "name": "mine"}


def test_make_report_with_wandb_logs_each_profiles_report_and_figures(tmp_path, fake_wandb):
    results = tmp_path / "results"
    (results / "quick" / "b1").mkdir(parents=True)
    (results / "quick" / "REPORT.md").write_text("# report")
    (results / "quick" / "b1" / "angles.png").write_text("png")
    (results / "quick" / "b1" / "angles.csv").write_text("a\n1\n")
    (results / "empty").mkdir()
    assert log_report(results, "offline") == ["quick"]
    init = next(c[1] for c in fake_wandb if c[0] == "init")
    assert (init["job_type"], init["name"], init["mode"]) == ("report", "report-quick", "offline")
    assert ("artifact", "report-quick", "report",
            ["REPORT.md", "b1/angles.csv", "b1/angles.png"]) in fake_wandb  # fmt: skip
    assert ("log", ["b1/angles.png"], None) in fake_wandb

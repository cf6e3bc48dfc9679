"""Local metrics files, W&B offline runs, the claims registry and the report skeleton."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from initlab.claims import all_claims
from initlab.main import execute
from initlab.report.build import render_report
from initlab.tracking import MetricsCSV
from tests.conftest import ROOT, compose


def test_metrics_csv_grows_columns_and_truncates_on_resume(tmp_path):
    log = MetricsCSV(tmp_path / "m.csv")
    log.append({"step": 1, "loss": 1.0})
    log.append({"step": 2, "loss": 0.5})
    log.append({"step": 2, "loss": 0.5, "test_accuracy": 0.7})
    log.append({"step": 3, "loss": float("nan")})
    frame = pd.read_csv(tmp_path / "m.csv")
    assert list(frame.columns) == ["step", "loss", "test_accuracy"]
    assert frame["test_accuracy"].notna().sum() == 1
    reopened = MetricsCSV(tmp_path / "m.csv")
    reopened.keep_until(2)
    assert pd.read_csv(tmp_path / "m.csv")["step"].tolist() == [1, 2, 2]


def test_resuming_one_phase_keeps_the_rows_of_earlier_phases(tmp_path):
    log = MetricsCSV(tmp_path / "m.csv")
    for step in (10, 20, 30):
        log.append({"step": step, "phase": "pdi_stage0", "loss": 1.0})
    for step in (10, 20):
        log.append({"step": step, "phase": "train", "loss": 0.5})
    log.keep_until(10, phase="train")
    frame = pd.read_csv(tmp_path / "m.csv")
    assert frame[frame.phase == "pdi_stage0"]["step"].tolist() == [10, 20, 30]
    assert frame[frame.phase == "train"]["step"].tolist() == [10]


def test_wandb_offline_run_is_written(tmp_path):
    cfg = compose(["logger.progress=off", "task.epochs=1", "data=iris", "model.width=8"])
    assert cfg["logger"]["wandb"]["mode"] == "offline"  # the default needs no account
    summary = execute(cfg, tmp_path / "run")
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert summary["status"] == "completed"


class _FakeWandbRun:
    def __init__(self, calls: list, **kwargs):
        self.calls, self.summary, self.id = calls, {}, kwargs.get("id", "rid")
        calls.append(("init", kwargs))

    def log_artifact(self, artifact):
        self.calls.append(("artifact", artifact.type))

    def log(self, row, step=None):
        self.calls.append(("log", step))

    def finish(self, exit_code=0):
        self.calls.append(("finish", exit_code))


@pytest.mark.parametrize("fails", [False, True])
def test_wandb_run_is_finished_whether_or_not_the_task_fails(tmp_path, monkeypatch, fails):
    import wandb

    calls: list = []
    monkeypatch.setattr(wandb, "init", lambda **kw: _FakeWandbRun(calls, **kw))
    overrides = [
        "logger.progress=off",
        "task.epochs=1",
        "data=iris",
        "model.width=8",
        "logger.wandb.group=g1",
        "logger.wandb.job_type=train",
    ]
    cfg = compose(overrides)
    if fails:  # a task that crashes after its run started
        import initlab.main

        def crash(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(initlab.main.TASKS, "build", crash)
        with pytest.raises(RuntimeError, match="boom"):
            execute(cfg, tmp_path / "run")
    else:
        execute(cfg, tmp_path / "run")
    kind, init_kwargs = calls[0]
    assert kind == "init" and init_kwargs["group"] == "g1" and init_kwargs["job_type"] == "train"
    assert init_kwargs["config"]["model"]["width"] == 8  # the resolved config is logged
    assert calls[-1] == ("finish", 1 if fails else 0)
    assert calls[-2] == ("artifact", "run-files")  # the run's tables, also of a failed run
    status = '"status": "failed"' if fails else '"status": "completed"'
    assert status in (tmp_path / "run" / "summary.json").read_text()


def test_data_refused_before_the_run_leaves_no_wandb_run_and_no_files(tmp_path, monkeypatch):
    import wandb

    calls: list = []
    monkeypatch.setattr(wandb, "init", lambda **kw: _FakeWandbRun(calls, **kw))
    cfg = compose(["logger.progress=off", "data=mnist", f"data.root={tmp_path}",
                   "data.download=false"])  # fmt: skip
    with pytest.raises(Exception, match="MNIST is not in"):
        execute(cfg, tmp_path / "run")
    assert calls == [] and not (tmp_path / "run").exists()


def test_every_paper_claim_is_registered():
    papers = ROOT.parent / "shared" / "PAPERS.md"
    if not papers.exists():
        pytest.skip("../shared/PAPERS.md is not beside this checkout")
    ids = set(re.findall(r"^- ([A-E]\d)\.", papers.read_text(), flags=re.M))
    ids |= set(re.findall(r"^- (C3) ", papers.read_text(), flags=re.M))
    assert ids == {c.id for c in all_claims()}


def test_report_lists_every_claim_with_its_status(tmp_path):
    text = render_report(tmp_path)  # an empty results folder: nothing measured
    full_only = {"E5"}  # its data cannot be had offline: the quick profile never runs it
    for claim in all_claims():
        row = next(line for line in text.splitlines() if line.startswith(f"| {claim.id} |"))
        assert ("not run at this scale" if claim.id in full_only else "not run yet") in row
    assert render_report(tmp_path) == text  # deterministic


def test_environment_yml_repeats_the_pins():
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in Path(ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    env = Path(ROOT / "environment.yml").read_text()
    env_pins = dict(re.findall(r"^\s*-\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", env, flags=re.M))
    assert {k.lower(): v for k, v in env_pins.items()} == pins


def test_committed_reports_are_what_the_committed_csvs_give():
    """No number in results/**/REPORT.md is edited by hand: rendering the CSVs reproduces them."""
    results = ROOT / "results"
    assert (results / "REPORT.md").read_text() == render_report(results)
    for profile in ("quick", "full"):
        if (results / profile / "REPORT.md").exists():
            expected = render_report(results, (profile,), prefix_profile=False)
            assert (results / profile / "REPORT.md").read_text() == expected

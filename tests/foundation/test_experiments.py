"""The experiment pipeline: a sweep through Hydra's multirun, collected into results tables."""

from __future__ import annotations

import pandas as pd
import pytest

from initlab.config import ConfigError
from initlab.experiments import discover, run_experiment, sweep_choices, sweep_size


def test_sweep_size_counts_the_product_of_choices():
    assert sweep_size("smoke_train", "quick") == 4  # init: he,xavier x seed: 0,1
    assert sweep_size("smoke_train", "quick", ["seed=range(0,3)"]) == 6  # the line's axis wins
    assert sweep_size("smoke_train", "quick", ["model.width=8,16", "init=he"]) == 4


@pytest.mark.parametrize(
    ("value", "choices"),
    [
        ("[1,2],[3],4", ["[1,2]", "[3]", "4"]),
        ("range(0,3)", ["0", "1", "2"]),  # was one value: "run 2/1"
        ("choice(he,xavier)", ["he", "xavier"]),
        ("'a,b',c", ["'a,b'", "c"]),  # a quoted comma is not a split
        ("fnn_snn", ["fnn_snn"]),
    ],
)
def test_sweeps_are_parsed_by_hydras_grammar(value, choices):
    assert sweep_choices("k", value) == choices


def test_an_interval_sweep_is_refused_in_one_line(capsys):
    with pytest.raises(ConfigError, match=r"seed=interval\(0,1\): interval\(\) is a continuous"):
        sweep_choices("seed", "interval(0,1)")
    assert run_experiment("smoke_train", "quick", ["seed=interval(0,1)"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("initlab: error: smoke_train: seed=interval(0,1): interval()")
    assert err.count("\n") == 1


def test_smoke_experiments_are_not_part_of_a_reproduction():
    quick = discover("quick")
    assert "smoke_train" not in quick
    assert all(not name.endswith("_full") for name in quick)


def test_experiment_runs_collects_and_skips_finished_runs(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    assert run_experiment("smoke_train", "quick", results_root=tmp_path / "results") == 0
    summary = pd.read_csv(tmp_path / "results" / "quick" / "smoke_train" / "summary.csv")
    assert sorted(zip(summary["init"], summary["seed"])) == [
        ("he", 0),
        ("he", 1),
        ("xavier", 0),
        ("xavier", 1),
    ]
    assert (summary["status"] == "completed").all()
    metrics = pd.read_csv(tmp_path / "results" / "quick" / "smoke_train" / "metrics.csv")
    assert {"init", "seed", "status", "step", "test_accuracy"} <= set(metrics.columns)
    capfd.readouterr()
    assert run_experiment("smoke_train", "quick", results_root=tmp_path / "results") == 0
    assert capfd.readouterr().out.count("initlab: already completed") == 4


def _write_experiments(directory, files: dict[str, str]) -> None:
    directory.mkdir()
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(text)


def test_discover_includes_full_only_experiments(tmp_path, monkeypatch):
    import initlab.experiments as experiments

    _write_experiments(
        tmp_path / "exp",
        {"both": "", "both_full": "", "gpu_only_full": "", "smoke_x": "", "smoke_x_full": ""},
    )
    monkeypatch.setattr(experiments, "EXPERIMENT_DIR", tmp_path / "exp")
    assert experiments.discover("quick") == ["both"]
    assert experiments.discover("full") == ["both", "gpu_only"]


def test_data_points_expand_only_the_data_overrides(tmp_path, monkeypatch):
    import initlab.experiments as experiments

    sweep = "hydra:\n  sweeper:\n    params:\n      {}\n"
    params = "\n      ".join(
        ["+fnn: snn,msra", "data.dataset: abalone,iris", "data.fold: 0,1", "seed: 0,1"]
    )
    _write_experiments(tmp_path / "exp", {"e_full": sweep.format(params)})
    monkeypatch.setattr(experiments, "EXPERIMENT_DIR", tmp_path / "exp")
    assert experiments.sweep_size("e", "full") == 16
    assert experiments.data_points("e", "full") == [
        ["data.dataset=abalone", "data.fold=0"],
        ["data.dataset=abalone", "data.fold=1"],
        ["data.dataset=iris", "data.fold=0"],
        ["data.dataset=iris", "data.fold=1"],
    ]


def test_full_reproduction_names_missing_data_before_starting(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "INITLAB_OUTPUTS": str(tmp_path / "outputs"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reproduce.py"), "--profile", "full"]
        + ["--only", "b1_b3_angles,e1_e2_selu_theory"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "Missing data; nothing was started" in done.stderr
    assert "b1_b3_angles: CIFAR-10 is not in" in done.stderr
    assert not (tmp_path / "outputs").exists()


def test_collect_leaves_run_only_tables_in_the_runs(tmp_path):
    from initlab.collect import collect

    run = tmp_path / "sweep" / "a=1"
    run.mkdir(parents=True)
    (run / "summary.json").write_text('{"status": "completed", "test_score": 0.5}')
    (run / "selected.csv").write_text("selection,test_score\noverall,0.5\n")
    (run / "grid.csv").write_text("member,epoch\n0,1\n")
    written = collect(tmp_path / "sweep", tmp_path / "results")
    assert sorted(written) == ["selected", "summary"]
    assert not (tmp_path / "results" / "grid.csv").exists()


def test_collect_skips_tables_with_no_rows_and_keeps_header_only_ones(tmp_path):
    """A run whose table has no rows (a bare newline, as pandas writes an empty frame, or a
    header alone) must not stop the collect of the other runs."""
    from initlab.collect import collect

    for name, spectrum in [("a=1", "\r\n"), ("a=2", "matrix,probe,node,weight\n"),
                           ("a=3", "matrix,probe,node,weight\nhessian,0,1.5,1.0\n")]:  # fmt: skip
        run = tmp_path / "sweep" / name
        run.mkdir(parents=True)
        (run / "summary.json").write_text('{"status": "completed"}')
        (run / "spectrum.csv").write_text(spectrum)
    written = collect(tmp_path / "sweep", tmp_path / "results")
    table = pd.read_csv(written["spectrum"])
    assert table["run"].tolist() == ["a=3"] and table["node"].tolist() == [1.5]


def test_collect_leads_with_the_recorded_keys_and_checks_the_claims_columns(
    tmp_path, monkeypatch, capfd
):
    """Columns come from summary.json["recorded"], not from the sweep's overrides; a column a
    claim declares it reads and the sweep did not give stops the experiment with one line."""
    import json

    import initlab.experiments as experiments

    monkeypatch.setenv("INITLAB_OUTPUTS", str(tmp_path / "outputs"))
    run_dir = experiments.sweep_dir("smoke_train", "quick") / "init=he,seed=3"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- init=he\n- seed=3\n- model.width=5\n")
    recorded = {"init": "he", "seed": 3, "profile": "quick"}
    summary = {"status": "completed", "test_accuracy": 0.5, "recorded": recorded, "seed": 3}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    monkeypatch.setattr(experiments, "run_child", lambda *a, **k: 0)  # no sweep: the run is above
    results = tmp_path / "results"
    assert run_experiment("smoke_train", "quick", results_root=results) == 0
    frame = pd.read_csv(results / "quick" / "smoke_train" / "summary.csv")
    assert list(frame.columns[:5]) == ["run", "init", "seed", "profile", "status"]
    assert "model.width" not in frame.columns  # an override that is not recorded is no column

    declared = {"X1": {"summary": ["init", "lambda_max"]}}
    monkeypatch.setattr(experiments, "declared_claims", lambda name, profile: declared)
    capfd.readouterr()
    assert run_experiment("smoke_train", "quick", results_root=results) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "claim X1 reads column 'lambda_max'" in err[0]


def test_every_claim_declares_its_columns_in_its_experiment():
    from initlab.claims import all_claims
    from initlab.experiments import EXPERIMENT_DIR, declared_claims

    for claim in all_claims():
        if claim.experiment is None:
            continue
        profile = "quick" if (EXPERIMENT_DIR / f"{claim.experiment}.yaml").exists() else "full"
        assert claim.id in declared_claims(claim.experiment, profile), claim.id


def test_a_record_key_that_is_not_in_the_config_is_refused_before_anything_runs(tmp_path):
    import pytest

    from initlab.compose import compose
    from initlab.config import ConfigError
    from initlab.main import execute

    with pytest.raises(ConfigError, match="record: 'model.dept' is not a key of the config"):
        execute(compose(["record=[model.dept]", "logger.wandb.mode=disabled"]), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_claims_rule_parameter_is_not_taken_for_a_table(tmp_path):
    import pytest

    from initlab.collect import ContractError, check_claims

    (tmp_path / "summary.csv").write_text("arm,test_accuracy\ncnn_selu,0.9\n")
    check_claims(tmp_path, {"E6": {"summary": ["arm"], "equivalence_margin": 0.5}})
    with pytest.raises(ContractError, match="'seed'"):
        check_claims(tmp_path, {"E6": {"summary": ["seed"], "equivalence_margin": 0.5}})

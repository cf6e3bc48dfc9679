"""The experiment pipeline: a sweep through Hydra's multirun, collected into results tables."""

from __future__ import annotations

import pandas as pd

from initlab.experiments import _split_choices, discover, run_experiment, sweep_size


def test_sweep_size_counts_the_product_of_choices():
    assert sweep_size("smoke_train", "quick") == 4  # init: he,xavier x seed: 0,1
    assert _split_choices("[1,2],[3],4") == ["[1,2]", "[3]", "4"]


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

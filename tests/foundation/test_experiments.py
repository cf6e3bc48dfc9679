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

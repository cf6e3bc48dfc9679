"""``run k/N`` lines with an ETA (initlab.sweep_progress)."""

from __future__ import annotations

import json

from initlab import sweep_progress


def test_eta_is_the_mean_time_per_run_so_far_times_the_runs_left() -> None:
    # 3 runs took 90 s: run 4 of 10 starts, 7 runs (this one included) are left at 30 s each
    text = sweep_progress.line("e4", 4, 10, 90.0, "run_dir")
    assert text == "[e4] run 4/10: run_dir (1m30s elapsed, about 3m30s left)"


def test_first_run_and_unknown_total_give_no_estimate() -> None:
    assert sweep_progress.line("e4", 1, 10, 0.0, "d") == "[e4] run 1/10: d"
    assert sweep_progress.line("e4", 3, None, 60.0, "d") == "[e4] run 3: d (1m00s elapsed)"


def test_runs_count_in_the_sweeps_counter_file(tmp_path, monkeypatch) -> None:
    env = sweep_progress.start(tmp_path / "sweep" / ".progress.json", 5)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    lines = [sweep_progress.announce("exp", 0, f"run{i}") for i in range(3)]  # job.num resets
    assert [text.split(":")[0] for text in lines] == [
        "[exp] run 1/5",
        "[exp] run 2/5",
        "[exp] run 3/5",
    ]
    assert json.loads((tmp_path / "sweep" / ".progress.json").read_text())["runs"] == 3

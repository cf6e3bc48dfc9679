"""The plan's arithmetic (initlab_harness.rehearsal.costs) and the rehearsal's cuts (profile)."""

from __future__ import annotations

import math

import pytest

from initlab.compose import compose
from initlab.experiments import discover, sweep_params, sweep_size
from initlab_harness.rehearsal import profile
from initlab_harness.rehearsal.costs import (
    baseline_seconds,
    format_plan,
    full_work,
    grid_members,
    plan_rows,
    run_seconds,
    work_scale,
)


def test_run_seconds_is_steps_times_cost_plus_evaluation_plus_fixed() -> None:
    assert run_seconds(100, 0.5, 7.0) == pytest.approx(57.0)
    assert run_seconds(100, 0.5, 7.0, work_scale=4) == pytest.approx(207.0)
    # 300 evaluated examples in batches of 10: 30 forwards at a third of a 1 s step
    assert run_seconds(0, 1.0, 0.0, eval_examples=300, batch_size=10) == pytest.approx(10.0)
    assert run_seconds(10, None, 3.0, work_scale=2) == pytest.approx(6.0)  # no steps timed


def test_baseline_seconds_scale_each_full_grid_point_by_its_work_counts() -> None:
    full = {
        "svm": {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]},  # 6 points at the SVM's cost
        "random_forest": {"n_estimators": [100, 500], "max_features": ["sqrt"]},
        "gradient_boosting": {"max_iter": [100, 300], "learning_rate": [0.1, 0.3]},
    }
    rehearsed = {
        "svm": {"C": [0.1], "gamma": ["scale"]},
        "random_forest": {"n_estimators": [10], "max_features": ["sqrt"]},
        "gradient_boosting": {"max_iter": [10], "learning_rate": [0.1]},
    }
    seconds = {"svm": 2.0, "random_forest": 0.5, "gradient_boosting": 0.25}
    # svm 6 x 2 s; forest (10 + 50) x 0.5 s; boosting 2 rates x (10 + 30) x 0.25 s
    expected = 12.0 + 30.0 + 20.0
    assert baseline_seconds(full, rehearsed, seconds) == pytest.approx(expected)
    # a method the rehearsal did not time costs nothing; the rehearsed grid itself costs its time
    assert baseline_seconds(full, rehearsed, {"svm": 2.0}) == pytest.approx(12.0)
    assert baseline_seconds(rehearsed, rehearsed, seconds) == pytest.approx(2.75)


def _row(name, seconds, steps, runs_scale=1.0, peak=100.0, status="completed"):
    return {
        "experiment": name,
        "status": status,
        "seconds_per_step": seconds,
        "timed_steps": 3,
        "wall_time_s": 3 * (seconds or 0) + 2.0,
        "peak_rss_mb": peak,
        "work_scale": runs_scale,
        "full_steps": steps,
        "full_eval_examples": 0,
        "full_batch": 1,
    }


def test_plan_sums_runs_and_names_the_dominant_experiment() -> None:
    costs = [_row("a", 1.0, 3600), _row("a", 3.0, 3600, peak=900), _row("b", 0.1, 360)]
    lines = plan_rows(costs, {"a": 10, "b": 4, "c": 2})
    by = {line["experiment"]: line for line in lines}
    # a: mean over its rows of (3600 s + 2 s, 10800 s + 2 s), times 10 runs
    assert by["a"]["device_hours"] == pytest.approx(10 * (3602 + 10802) / 2 / 3600, abs=0.01)
    assert by["a"]["peak_rss_mb"] == 900 and by["a"]["rehearsed"] == 2
    assert by["b"]["device_hours"] == pytest.approx(4 * 38 / 3600, abs=0.01)
    assert math.isnan(by["c"]["device_hours"])
    text = format_plan(lines, "test")
    assert "Dominant: a" in text and "Not rehearsed yet (no estimate): c" in text
    assert f"Total: {by['a']['device_hours'] + by['b']['device_hours']:.1f}" in text


def test_another_seconds_per_step_source_replaces_the_measurement() -> None:
    costs = [_row("a", 1.0, 3600)]
    gpu = plan_rows(costs, {"a": 1}, seconds_per_step=lambda row: 0.01)
    assert gpu[0]["device_hours"] == pytest.approx((36 + 2) / 3600, abs=1e-3)


def test_grid_members_of_the_paper_grids() -> None:
    cfg = compose(["experiment=e4_uci_fnn_full", "arm=fnn_snn", "profile=full"])
    assert grid_members(cfg["task"]) == 3 * 6 * 3 * 2 * 2  # widths, depths, lrs, dropout, shape
    cfg = compose(["experiment=e4_uci_fnn_full", "arm=fnn_resnet", "profile=full"])
    assert grid_members(cfg["task"]) == 3 * 5 * 3 * 2 * 2  # blocks replace the depth axis
    work = full_work(cfg, 1000, {"train": 1000, "heldout": 500})
    assert work["steps"] == 180 * 100 * math.ceil(1000 / 64)


def test_work_scale_undoes_the_cut_batch() -> None:
    full = {"task": {"batch_size": 16, "samples": 1024}}
    assert work_scale(full, {"task": {"batch_size": 1, "samples": 1024}}) == 16
    assert work_scale(full, {"task": {"batch_size": 16, "samples": 2}}) == 512


def test_every_full_experiment_has_rehearsal_cuts_that_keep_its_sizes() -> None:
    for name in discover("full"):
        cfg = compose([f"experiment={name}_full", "profile=rehearsal"])
        cuts = profile.overrides(cfg)
        for cut in cuts:  # models and data sets stay at paper size
            assert not cut.startswith(("model.", "data.")), (name, cut)
        assert sweep_size(name, "rehearsal") <= sweep_size(name, "full")


def test_covering_sweep_runs_every_value_of_every_axis() -> None:
    params = sweep_params("e4_uci_fnn", "full")
    segments = profile.sweep_segments(params)
    seen: dict[str, set[str]] = {}
    for segment in segments:
        for item in segment:
            key, _, values = item.partition("=")
            seen.setdefault(key, set()).update(values.split(","))
    assert seen["arm"] == set(params["arm"])
    assert seen["data.dataset"] == set(params["data.dataset"])
    assert profile.sweep_runs(params) == len(params["data.dataset"]) == 121


def test_repetition_axes_run_their_first_value() -> None:
    params = {"arm": ["a", "b"], "seed": ["0", "1", "2"], "optim.lr": ["0.1", "1"]}
    assert profile.sweep_overrides(params) == ["seed=0", "optim.lr=0.1"]
    assert profile.sweep_runs(params) == 2


def test_a_step_is_scaled_by_its_batch_only_not_by_measured_inputs_or_draws():
    from initlab_harness.rehearsal.costs import work_scale
    from initlab_harness.rehearsal.profile import STEP_SCALED_KEYS

    full = {"task": {"batch_size": 128, "examples": 256, "seeds": 5}}
    rehearsed = {"task": {"batch_size": 64, "examples": 2, "seeds": 1}}
    assert work_scale(full, rehearsed, STEP_SCALED_KEYS) == pytest.approx(2.0)
    assert work_scale(full, rehearsed) == pytest.approx(2.0 * 128 * 5)

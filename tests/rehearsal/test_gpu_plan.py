"""The grid searches' GPU plan (initlab_harness.rehearsal.gpu_plan): the launch model and the
stacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from initlab.compose import compose
from initlab_harness.rehearsal.gpu_plan import member_stacks, member_step_seconds, run_gpu_seconds

LAUNCHES = json.loads(
    (Path(__file__).parents[2] / "benchmarks" / "results" / "launches.json").read_text()
)


def _row(case: str, mode: str, k: int) -> dict:
    (row,) = [
        r
        for r in LAUNCHES["rows"]
        if r["case"] == case and r["mode"] == mode and r["members_per_stack"] == k
    ]
    return row


@pytest.mark.parametrize("variant", ["snn", "batchnorm", "highway"])
def test_at_the_benchmarks_own_size_the_model_gives_the_benchmarks_estimate(variant) -> None:
    case = f"e4_{variant}_w256_d8"
    for mode, k in (("one_by_one", 1), ("stacked", 64)):
        expected = _row(case, mode, k)["est_gpu_seconds_per_member_step_fp32"]
        assert member_step_seconds(LAUNCHES, variant, 256, 8, k) == pytest.approx(expected)


def test_a_stack_shares_its_launches_and_depth_and_width_scale_the_work() -> None:
    alone = member_step_seconds(LAUNCHES, "snn", 256, 8, 1)
    assert member_step_seconds(LAUNCHES, "snn", 256, 8, 4) < alone
    # the measured SNN widths are used as such (512: its own row, not 256 scaled)
    assert member_step_seconds(LAUNCHES, "snn", 512, 8, 1) == pytest.approx(
        _row("e4_snn_w512_d8", "one_by_one", 1)["est_gpu_seconds_per_member_step_fp32"]
    )
    assert member_step_seconds(LAUNCHES, "snn", 256, 32, 1) == pytest.approx(4 * alone)
    # a width the benchmark lacks (2048, Tox21) is the nearest measured one with more FLOPs
    assert member_step_seconds(LAUNCHES, "snn", 2048, 8, 1) > member_step_seconds(
        LAUNCHES, "snn", 1024, 8, 1
    )
    with pytest.raises(ValueError, match="no rows for variant 'nope'"):
        member_step_seconds(LAUNCHES, "nope", 256, 8, 1)


def test_stacked_and_one_by_one_runs_agree_when_every_stack_holds_one_member() -> None:
    singles = [[(256, 8)], [(512, 4)]]
    args = (LAUNCHES, "snn", singles, 100.0, 1000.0, 64.0)
    assert run_gpu_seconds(*args, stacked=True) == pytest.approx(run_gpu_seconds(*args, False))
    pair = [[(256, 8), (256, 8)]]
    args = (LAUNCHES, "snn", pair, 100.0, 1000.0, 64.0)
    assert run_gpu_seconds(*args, stacked=True) < run_gpu_seconds(*args, stacked=False)


def _full(arm: str, dataset: str) -> dict:
    return compose(
        ["experiment=e4_uci_fnn_full", "profile=full", f"arm={arm}", f"data.dataset={dataset}"]
    )


def test_the_snn_grid_stacks_its_learning_rates_and_dropouts_at_each_shape() -> None:
    stacks = member_stacks(_full("fnn_snn", "iris"))
    # widths 3 x depths 6 x shapes 2 give 36 shapes; lr 3 x dropout 2 share each one
    assert len(stacks) == 36 and all(len(stack) == 6 for stack in stacks)
    assert all(len(set(stack)) == 1 for stack in stacks)  # one (width, depth) per stack
    assert sorted({s[0] for s in stacks}) == sorted(
        (w, d) for w in (256, 512, 1024) for d in (2, 3, 4, 8, 16, 32)
    )


def test_the_stacks_do_not_depend_on_the_uci_set() -> None:
    # fewest inputs and classes vs the most inputs (arrhythmia, 262) and classes (plant-*, 100)
    small = member_stacks(_full("fnn_batchnorm", "acute-nephritis"))
    for dataset in ("arrhythmia", "plant-margin"):
        assert member_stacks(_full("fnn_batchnorm", dataset)) == small

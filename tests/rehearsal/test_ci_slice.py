"""CI slice of the rehearsal: one paper-size run of a few experiments, end to end.

The same path as ``make rehearse``: files written in the real formats, the full profile's
configs with the rehearsal's cuts, Hydra multirun, collect, costs, and the rehearsal report.
The default suite rehearses the run that once died of memory (A1 at depth 16 with BatchNorm),
CIFAR-10's files (B4) and a UCI set (E4); papers C and D's slice runs with ``-m slow`` (about
20 s each: the default suite's 10 minutes cannot hold every paper).
"""

from __future__ import annotations

import csv

import pytest

from initlab.experiments import run_experiment
from initlab_harness.rehearsal.costs import plan_rows, write_costs
from initlab_harness.rehearsal.report import render
from initlab_harness.rehearsal.writers import write_all

SLICE = {  # experiment -> the sweep point it runs (paper sizes; the rehearsal's cuts apply)
    "a1_a2_hessian_depth": ["arm=resnet_bn", "model.depth=16"],  # died at 13.5 GB before
    "b4_distance_ratio": ["arm=angles_resnet_cifar", "data=synthetic"],
    "e4_uci_fnn": ["arm=fnn_snn", "data.dataset=iris"],
}
SLOW_SLICE = {
    "c3_fisher_depth": ["arm=resnet_bn", "model.depth=8", "task.matrix=fisher_true"],
    "d1_pdi_weight_variance": ["arm=d1_he"],
}


def rehearse(root, runs: dict[str, list[str]], mp: pytest.MonkeyPatch) -> dict[str, int]:
    """Run each experiment's point through the rehearsal profile under ``root`` (``mp`` keeps
    the environment that points there: the costs are read from the same outputs later)."""
    mp.setenv("INITLAB_REHEARSAL_DATA", str(root / "data"))
    mp.setenv("INITLAB_OUTPUTS", str(root / "outputs"))
    mp.setenv("OMP_NUM_THREADS", "1")
    write_all(root / "data", ["cifar10", "uci121"], options={"uci121": {"names": ["iris"]}})
    return {
        name: run_experiment(name, "rehearsal", point, results_root=root / "results")
        for name, point in runs.items()
    }


def completed(results, runs) -> None:
    for name in runs:
        with open(results / name / "summary.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["status"] for r in rows] == ["completed"], name
        assert float(rows[0]["peak_rss_mb"]) > 0


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory):
    root = tmp_path_factory.mktemp("rehearsal")
    mp = pytest.MonkeyPatch()
    codes = rehearse(root, SLICE, mp)
    yield root / "results" / "rehearsal", codes
    mp.undo()


def test_every_slice_run_completes_at_paper_size(rehearsed) -> None:
    results, codes = rehearsed
    assert codes == dict.fromkeys(SLICE, 0)
    completed(results, SLICE)
    with open(results / "e4_uci_fnn" / "summary.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert 0 < int(row["train_examples"]) < 150  # iris's 150 rows, less its test fold


def test_costs_plan_and_report_of_the_slice(rehearsed) -> None:
    results, _ = rehearsed
    path = write_costs(list(SLICE), results)
    with open(path, newline="") as handle:
        costs = list(csv.DictReader(handle))
    assert {r["experiment"] for r in costs} == set(SLICE)
    timed = [r for r in costs if int(r["timed_steps"]) > 0]
    assert timed and all(float(r["seconds_per_step"]) > 0 for r in timed)
    lines = plan_rows(costs, dict.fromkeys(SLICE, 1))
    assert all(line["device_hours"] > 0 for line in lines)
    text = render(results, list(SLICE))
    assert "**A1** — rehearsed (1 runs completed)" in text
    assert "**E4** — rehearsed (1 runs completed)" in text


@pytest.mark.slow
def test_papers_c_and_d_slice_completes_at_paper_size(tmp_path, monkeypatch) -> None:
    assert rehearse(tmp_path, SLOW_SLICE, monkeypatch) == dict.fromkeys(SLOW_SLICE, 0)
    completed(tmp_path / "results" / "rehearsal", SLOW_SLICE)

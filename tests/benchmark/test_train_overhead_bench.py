"""The loop-overhead benchmark's arithmetic: instruction counts per step from two run lengths,
the fixed excess of a run, and wall-clock overheads paired run by run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train_overhead.py"
spec = importlib.util.spec_from_file_location("bench_train_overhead", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

CALLGRIND_TAIL = """==4242==
==4242== Events    : Ir
==4242== Collected : 612996170
==4242==
==4242== I   refs:      612,996,170
"""


def test_parse_instructions_reads_callgrinds_total():
    assert bench.parse_instructions("noise\n" + CALLGRIND_TAIL) == 612_996_170
    with pytest.raises(RuntimeError, match="no instruction count"):
        bench.parse_instructions("==1== Callgrind, a call-graph generating cache profiler")


def test_instructions_recover_per_step_and_fixed_costs(monkeypatch):
    """Synthetic counts: a per-step and a per-run cost of each loop (the region's set-up)."""
    per_step = {"bare": 5_000_000, "disabled": 5_150_000, "offline": 5_300_000}
    per_run = {"bare": 40_000_000, "disabled": 90_000_000, "offline": 400_000_000}
    steps_per_epoch = 20

    def fake_instructions_of(case, loop, epochs):
        return per_run[loop] + per_step[loop] * epochs * steps_per_epoch

    monkeypatch.setattr(bench, "instructions_of", fake_instructions_of)
    out = bench.instructions("mlp_digits", 5, steps_per_epoch)
    assert out["bare_per_step"] == 5_000_000
    assert out["initlab_overhead_pct"] == pytest.approx(3.0)
    assert out["initlab_wandb_offline_overhead_pct"] == pytest.approx(6.0)
    # 50M instructions more per run = 10 bare steps = 1% of a 1,000-step run
    assert out["initlab_fixed_excess_steps"] == pytest.approx(10.0)
    assert out["initlab_overhead_1000_steps_pct"] == pytest.approx(4.0)
    assert out["initlab_wandb_offline_overhead_1000_steps_pct"] == pytest.approx(6.0 + 7.2)


def test_paired_overhead_follows_each_run_not_the_machines_drift():
    base = [1.0, 2.0, 4.0, 1.5, 3.0]  # the machine slows down and speeds up between repeats
    other = [b * 1.05 for b in base]
    out = bench.paired_pct(base, other)
    assert out["median"] == pytest.approx(5.0)
    assert out["q1"] == pytest.approx(5.0) and out["q3"] == pytest.approx(5.0)
    # one disturbed pair (a run 3x slow: another job woke up) leaves the median where it was
    noisy = [*other[:4], base[4] * 3]
    assert bench.paired_pct(base, noisy)["median"] == pytest.approx(5.0)


def test_counted_region_runs_and_passes_errors_on():
    """The region runs through ctypes (what callgrind's toggle counts); an error in it is not
    swallowed by the callback."""
    ran = []
    assert bench.counted(lambda: ran.append(1)) == 0.0
    assert ran == [1]

    def broken():
        raise ValueError("inside the counted region")

    with pytest.raises(ValueError, match="inside the counted region"):
        bench.counted(broken)

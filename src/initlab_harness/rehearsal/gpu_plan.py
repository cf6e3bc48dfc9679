"""The plan of the grid searches (E4, E5) on one GPU, one by one vs stacked, without a GPU.

The rehearsal's plan (:mod:`initlab_harness.rehearsal.costs`) costs every run at this
machine's measured seconds per step. For the grid searches, which dominate the SNN benchmark,
this module estimates the same runs on one GPU from the kernel-launch benchmark
(``benchmarks/bench_launches.py``, ``benchmarks/results/launches.json``), with each run's
members stacked as ``task=grid_search`` stacks them
(:func:`initlab.training.stacked.stack_groups` on the full config's members, on the meta device)
and one by one (``task.stacked=false``). The model, stated:

- A member-step of an FNN variant at width ``w`` and depth ``d`` costs
  ``launches x LAUNCH_S + max(FLOPs / rate, bytes / bandwidth) + syncs x SYNC_S`` (the
  benchmark's formula and constants, read from its JSON, fp32), from the benchmark's row of that
  variant at the nearest measured width (depth 8): launches, FLOPs and bytes scale with ``d / 8``
  (the hidden layers), FLOPs with ``(w / w0)^2`` and bytes with ``w / w0``.
- A stacked step of ``k`` members launches what the benchmark's largest stack launches per step
  (the count does not grow with ``k``: 143 at k = 16, 32 and 64 for the SNN), shared by its ``k``
  members; FLOPs and bytes per member are the stacked row's.
- Scoring: the evaluated examples of the run at a forward's share of a step per batch.
- Members per run, steps and evaluated examples per member come from ``costs.csv`` (the full
  config's work on the rehearsal's data sizes); the data shapes for building the members are the
  rehearsal's (``initlab_harness.rehearsal.writers``), since the real files are not needed to plan.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from initlab.experiments import current_override
from initlab_harness.rehearsal.costs import FORWARD_SHARE, _FullConfigs

BENCH_DEPTH = 8  # the depth the launch benchmark measures the E4 variants at


def data_shape(cfg: Mapping[str, Any]) -> tuple[tuple[int, ...], int]:
    """Input shape and classes (or labels) of the full config's data set, as rehearsed."""
    from initlab.data.uci121_shapes import UCI121_SHAPES
    from initlab_harness.rehearsal.writers import HTRU2_SHAPE, TOX21_SHAPE

    data = cfg["data"]
    if data["name"] == "uci121":
        _, features, classes, _ = UCI121_SHAPES[data["dataset"]]
        return (features,), classes
    if data["name"] == "tox21":
        return (TOX21_SHAPE[2],), 12
    if data["name"] == "htru2":
        return (HTRU2_SHAPE[1],), 2
    raise ValueError(f"gpu plan: no rehearsal shape for data {data['name']!r}")


def member_stacks(cfg: Mapping[str, Any]) -> list[list[tuple[int, int]]]:
    """The full config's grid members as ``task=grid_search`` stacks them: per stack, each
    member's (width, depth)."""
    from initlab.setup import parse_config
    from initlab.tasks.grid_search import member_setups
    from initlab.training.stacked import stack_groups

    setup = parse_config(cfg)
    task = setup.task
    input_shape, classes = data_shape(cfg)
    _, setups = member_setups(task, setup)
    stacks = stack_groups(
        setups,
        SimpleNamespace(input_shape=input_shape, num_classes=classes),
        batch_size=task.batch_size,
        eval_batch_size=task.eval_batch_size,
        max_mb=task.stack_max_mb,
        max_members=task.stack_max_members,
    )
    return [[(setups[i].model.width, setups[i].model.depth) for i in stack] for stack in stacks]


def _rows_of(launches: Mapping[str, Any], variant: str) -> dict[int, dict[str, dict]]:
    """The benchmark's rows of one FNN variant, by width: its one-by-one and largest stack."""
    out: dict[int, dict[str, dict]] = {}
    for row in launches["rows"]:
        prefix = f"e4_{variant}_w"
        if not row["case"].startswith(prefix):
            continue
        width = int(row["case"][len(prefix) :].split("_d")[0])
        modes = out.setdefault(width, {})
        best = modes.get(row["mode"])
        if best is None or row["members_per_stack"] > best["members_per_stack"]:
            modes[row["mode"]] = row
    return out


def member_step_seconds(
    launches: Mapping[str, Any], variant: str, width: int, depth: int, k: int
) -> float:
    """Estimated GPU seconds of one member-step in a stack of ``k`` (1: one by one)."""
    by_width = _rows_of(launches, variant)
    if not by_width:
        raise ValueError(f"gpu plan: the launch benchmark has no rows for variant {variant!r}")
    w0 = min(by_width, key=lambda w: (abs(math.log(width / w)), -w))
    rows = by_width[w0]
    model = launches["model"]
    depth_scale = depth / BENCH_DEPTH
    alone = rows["one_by_one"]
    if k == 1:
        launched = alone["launches_per_member_step"]
        row = alone
    else:
        row = rows["stacked"]
        launched = row["launches_per_member_step"] * row["members_per_stack"] / k
    flops = row["gflop_per_member_step"] * 1e9 * (width / w0) ** 2 * depth_scale
    moved = row["gbytes_per_member_step"] * 1e9 * (width / w0) * depth_scale
    rate = model["PEAK_FP32"] * model["ACHIEVED_FRACTION_FP32"]
    return (
        launched * depth_scale * model["LAUNCH_S"]
        + max(flops / rate, moved / model["BANDWIDTH"])
        + row["syncs_per_member_step"] * model["SYNC_S"]
    )


def run_gpu_seconds(
    launches: Mapping[str, Any],
    variant: str,
    stacks: list[list[tuple[int, int]]],
    steps_per_member: float,
    eval_per_member: float,
    batch: float,
    stacked: bool,
) -> float:
    """Estimated GPU seconds of one grid-search run: every member's steps and scoring."""
    total = 0.0
    for stack in stacks:
        k = len(stack) if stacked else 1
        for width, depth in stack:
            step = member_step_seconds(launches, variant, width, depth, k)
            total += steps_per_member * step + eval_per_member / batch * FORWARD_SHARE * step
    return total


def gpu_plan_rows(
    costs: list[dict[str, Any]], full_runs: Mapping[str, int], launches: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One line per grid-search experiment: runs, members per run, mean members per stack,
    device-hours on this machine (the rehearsal's plan) and on one GPU one by one and stacked."""
    from initlab_harness.rehearsal.costs import plan_rows

    grids = sorted({r["experiment"] for r in costs if r["task"] == "grid_search"} & set(full_runs))
    cpu = {line["experiment"]: line for line in plan_rows(costs, {g: full_runs[g] for g in grids})}
    lines = []
    for name in grids:
        configs = _FullConfigs(name, {})
        stacks_of: dict[tuple, list[list[tuple[int, int]]]] = {}
        alone, stacked, members, per_stack = [], [], [], []
        for row in (r for r in costs if r["experiment"] == name):
            overrides = _point(row)
            # the grid does not depend on the data set; its stacks do only through the data's
            # shape (the input layer's share of a stack's memory), so they are built once per
            # sweep point without its data set (tests/rehearsal/test_gpu_plan.py checks this)
            dataset = [o for o in overrides if o.startswith("data.dataset=")]
            key = tuple(o for o in overrides if o not in dataset)
            cfg = copy.deepcopy(configs.get(list(key)))
            if dataset:
                cfg["data"]["dataset"] = dataset[0].partition("=")[2]
            if key not in stacks_of:
                stacks_of[key] = member_stacks(cfg)
            stacks = stacks_of[key]
            n = sum(len(s) for s in stacks)
            variant = cfg["task"]["method"].removeprefix("fnn_")
            work = (float(row["full_steps"]) / n, float(row["full_eval_examples"]) / n)
            batch = float(row["full_batch"] or 1)
            for mode, out in ((False, alone), (True, stacked)):
                out.append(run_gpu_seconds(launches, variant, stacks, *work, batch, mode))
            members.append(n)
            per_stack.append(n / len(stacks))
        runs = full_runs[name]
        lines.append(
            {
                "experiment": name,
                "runs": runs,
                "members_per_run": round(statistics.fmean(members)),
                "members_per_stack": round(statistics.fmean(per_stack), 1),
                "cpu_hours": cpu[name]["device_hours"],
                "gpu_hours_one_by_one": round(runs * statistics.fmean(alone) / 3600, 2),
                "gpu_hours_stacked": round(runs * statistics.fmean(stacked) / 3600, 2),
            }
        )
    return lines


def _point(row: Mapping[str, Any]) -> list[str]:
    """A costs row's sweep overrides: its ``overrides`` (a JSON list); a row written before
    runs were named by their recorded keys has none, and its folder name is its overrides."""
    given = row.get("overrides")
    if isinstance(given, str) and given:
        return [current_override(o) for o in json.loads(given)]
    return [current_override(o) for o in str(row["run"]).split(",")]


def format_gpu_plan(lines: list[dict[str, Any]], cpu_total: float | None = None) -> str:
    """The grid searches' GPU plan as a Markdown table, with totals before and after."""
    out = [
        "Estimated cost of the grid searches on one GPU (A100-class, the kernel-launch model of "
        "benchmarks/bench_launches.py), one by one (task.stacked=false) vs stacked (default):",
        "",
        "| experiment | runs | members/run | members/stack | CPU device-hours "
        "| GPU h one by one | GPU h stacked |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for x in lines:
        out.append(
            f"| {x['experiment']} | {x['runs']} | {x['members_per_run']} "
            f"| {x['members_per_stack']} | {x['cpu_hours']:.1f} "
            f"| {x['gpu_hours_one_by_one']:.1f} | {x['gpu_hours_stacked']:.1f} |"
        )
    cpu = sum(x["cpu_hours"] for x in lines)
    alone = sum(x["gpu_hours_one_by_one"] for x in lines)
    stacked = sum(x["gpu_hours_stacked"] for x in lines)
    out += [
        "",
        f"Grid searches: {cpu:.1f} h on this machine; on one GPU {alone:.1f} h one by one, "
        f"{stacked:.1f} h stacked ({alone / stacked:.1f}x less)."
        if stacked
        else "",
    ]
    if cpu_total is not None:
        rest = cpu_total - cpu
        out.append(
            f"Full profile, the grids on one GPU: {rest + alone:.1f} h before (one by one), "
            f"{rest + stacked:.1f} h after (stacked). The other experiments' {rest:.1f} h are at "
            "this machine's rate in both (this plan models a GPU for the grids only; the launch "
            "table in docs/benchmarks.md gives ResNet-110 and VAE steps)."
        )
    return "\n".join(out) + "\n"


def gpu_plan_text(results_dir: Path, launches_path: Path) -> str | None:
    """The GPU plan from ``costs.csv`` and the launch benchmark; None if either is missing."""
    import pandas as pd

    from initlab.experiments import discover, sweep_size
    from initlab_harness.rehearsal.costs import plan_rows

    costs_path = Path(results_dir) / "costs.csv"
    if not costs_path.is_file() or not Path(launches_path).is_file():
        return None
    costs = pd.read_csv(costs_path).to_dict("records")
    launches = json.loads(Path(launches_path).read_text())
    runs = {name: sweep_size(name, "full") for name in discover("full")}
    total = sum(
        line["device_hours"]
        for line in plan_rows(costs, runs)
        if line["device_hours"] == line["device_hours"]
    )
    return format_gpu_plan(gpu_plan_rows(costs, runs, launches), total)

"""What the paper-scale profile will cost, from the rehearsal's own measurements.

``costs.csv`` (beside ``results/rehearsal/REPORT.md``) has one row per rehearsal run: its
measured ``seconds_per_step`` and ``peak_rss_mb`` (:mod:`initlab.meter`), the
``work_scale`` of its cuts (full value / rehearsal value of the ``SCALED_KEYS`` it cut), the
optimizer steps (or operator applications) the same run takes at full scale, and its estimated
full-scale seconds. :func:`plan_rows` turns that into one line per experiment.

The cost model is :func:`run_seconds`, a pure function of numbers, so another source of
seconds per step (e.g. a GPU estimate from kernel launches) can be fed to :func:`plan_rows`
instead of the CPU measurement.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from initlab.analysis.grid import flatten
from initlab.experiments import current_override
from initlab_harness.rehearsal import profile as rehearsal

FORWARD_SHARE = 1 / 3  # a forward pass costs about a third of a training step (fwd + bwd)


def run_seconds(
    steps: float,
    seconds_per_step: float | None,
    fixed_seconds: float,
    work_scale: float = 1.0,
    eval_examples: float = 0.0,
    batch_size: float = 1.0,
) -> float:
    """Estimated seconds of one full-scale run.

    ``steps`` steps at ``seconds_per_step * work_scale`` each, the evaluation of
    ``eval_examples`` examples (in total, all evaluations) at a forward's share of a step per
    ``batch_size`` examples, and ``fixed_seconds`` for what is not a step (set-up, data
    loading; for a task without steps, its whole measured work times ``work_scale``).
    """
    if seconds_per_step is None or not math.isfinite(seconds_per_step):
        return fixed_seconds * work_scale
    step = seconds_per_step * work_scale
    evaluation = eval_examples / max(batch_size, 1.0) * step * FORWARD_SHARE
    return steps * step + evaluation + fixed_seconds


def baseline_seconds(
    full_grids: Mapping[str, Mapping[str, list]],
    rehearsed_grids: Mapping[str, Mapping[str, list]],
    fit_seconds: Mapping[str, float],
) -> float:
    """Estimated seconds of the classical baselines' full grids (``task.grids``).

    ``fit_seconds``: each method's measured seconds per rehearsed grid point (its fit and
    scoring). Every point of the method's full grid costs that much times the ratio of its work
    counts (``BASELINE_WORK``: trees, boosting iterations) to the rehearsed point's; other
    parameters (an SVM's C and gamma) are taken to cost what the rehearsed point did.
    """
    total = 0.0
    for method, seconds in fit_seconds.items():
        rehearsed = {k: v[0] for k, v in rehearsed_grids.get(method, {}).items() if v}
        # a sum over the grid's product of per-key ratios is the product of per-key sums
        points = 1.0
        for key, values in full_grids.get(method, {}).items():
            done = _number(rehearsed.get(key)) if key in rehearsal.BASELINE_WORK else None
            points *= sum(float(v) / done if done and _number(v) else 1.0 for v in values)
        total += seconds * points
    return total


def _baseline_scale(run_dir: Path, full: Mapping, rehearsed: Mapping, wall: float) -> float:
    """Full / rehearsed seconds of a baselines run (1.0 without its ``fit_times.csv``)."""
    path = run_dir / "fit_times.csv"
    if not path.is_file() or wall <= 0:
        return 1.0
    import pandas as pd

    times = pd.read_csv(path)
    per_point = times.groupby("method", sort=False)["seconds"].mean().to_dict()
    fits = baseline_seconds(full["task"]["grids"], rehearsed["task"]["grids"], per_point)
    return (fits + max(wall - float(times["seconds"].sum()), 0.0)) / wall


def _product(values: list[list]) -> int:
    return math.prod(len(v) for v in values if isinstance(v, list))


def grid_members(task: Mapping[str, Any]) -> int:
    """Members of a grid search: the shared axes merged with the variant's own."""
    axes = {k: v for k, v in flatten(task.get("grid", {})).items() if v is not None}
    axes.update(flatten(task.get("method_grids", {}).get(task.get("method"), {}) or {}))
    return _product([v for v in axes.values() if v is not None]) or 1


def _epochs_steps(task: Mapping[str, Any], n: int) -> int:
    batch = n if task.get("full_batch") else min(int(task.get("batch_size", 1)), max(n, 1))
    steps = int(task.get("epochs", 0)) * math.ceil(n / max(batch, 1))
    return min(steps, task["max_steps"]) if task.get("max_steps") else steps


def full_work(
    cfg: Mapping[str, Any], train_examples: int, sizes: Mapping[str, int], params: int = 0
) -> dict:
    """Steps, evaluated examples and batch size of one run of the full config ``cfg``.

    ``sizes``: the run's split sizes (``train``, ``heldout`` = val + test) as rehearsed;
    ``params``: the model's parameter count where the work depends on it (a dense Hessian: one
    row, one Hessian-vector product, per parameter and chunk).
    """
    task, name = cfg["task"], cfg["task"]["name"]
    n = train_examples
    evaluated = sum(sizes.values())
    if name in ("train", "train_vae"):
        steps = _epochs_steps(task, n)
        evals = math.ceil(max(int(task.get("epochs", 0)), 1) / int(task.get("eval_every", 1)))
        init = cfg.get("init", {})
        if init.get("name") == "pdi" and init.get("duration_unit") == "steps":
            steps += sum(init["duration"]) * (
                len(init["stages"]) if len(init["duration"]) == 1 else 1
            )
        return {"steps": steps, "eval_examples": evals * evaluated, "batch": task["batch_size"]}
    if name == "angles":
        steps = int(task.get("seeds", 1)) * _epochs_steps(task, n) if task.get("train") else 0
        return {"steps": steps, "eval_examples": 0, "batch": task.get("batch_size", 1)}
    if name == "hessian":  # operator applications: Lanczos, then Hutchinson and SLQ probes
        spectrum = int(task.get("trace_probes", 0)) + int(task.get("slq_probes", 0)) * int(
            task.get("slq_steps", 0)
        )
        return {"steps": int(task["max_iter"]) + 1 + spectrum, "eval_examples": 0, "batch": 1}
    if name == "hessian_structure":
        samples = min(int(task.get("samples") or n), n) if n else int(task.get("samples") or 0)
        chunks = math.ceil(samples / int(task["chunk_size"])) if samples else 1
        return {"steps": params * chunks, "eval_examples": 0, "batch": 1}
    if name == "lr_search":  # probes' steps, and lambda_max's Hessian-vector products
        lanczos = int(task.get("sharpness_max_iter", 0)) + 1 if task.get("sharpness") else 0
        return {
            "steps": int(task["steps"]) * int(task["max_probes"]) + lanczos,
            "eval_examples": 0,
            "batch": 1,
        }
    if name == "grid_search":
        members = grid_members(task)
        per_epoch = math.ceil(n / min(int(task["batch_size"]), max(n, 1)))
        epochs = int(task["epochs"])
        scored = sizes.get("heldout", 0) * epochs * members
        return {
            "steps": members * epochs * per_epoch,
            "eval_examples": scored,
            "batch": task["batch_size"],
        }
    return {"steps": 0, "eval_examples": 0, "batch": 1}


def _get(cfg: Mapping[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def work_scale(
    full: Mapping[str, Any], rehearsed: Mapping[str, Any], keys: tuple[str, ...] | None = None
) -> float:
    """Product of full / rehearsal value over the ``keys`` (default ``SCALED_KEYS``) the
    rehearsal made smaller."""
    scale = 1.0
    for key in rehearsal.SCALED_KEYS if keys is None else keys:
        a, b = _get(full, key), _get(rehearsed, key)
        if isinstance(a, int | float) and isinstance(b, int | float) and 0 < b < a:
            scale *= a / b
    return scale


@dataclass
class _FullConfigs:
    """Full configs of an experiment's sweep points, composed once per distinct point."""

    name: str
    cache: dict[tuple[str, ...], dict]

    def get(self, overrides: list[str]) -> dict:
        key = tuple(overrides)
        if key not in self.cache:
            from initlab.compose import compose

            self.cache[key] = compose([f"experiment={self.name}_full", "profile=full", *overrides])
        return self.cache[key]


def _sweep_overrides(run_dir: Path, cut_keys: set[str]) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    items = yaml.safe_load(path.read_text()) if path.is_file() else []
    keep = []
    for item in items or []:
        key = str(item).partition("=")[0].lstrip("+~")
        if key.startswith("hydra") or key in ("experiment", "profile") or key in cut_keys:
            continue
        keep.append(current_override(str(item)))
    return keep


def run_rows(name: str, sweep_dir: Path, cut_keys: set[str]) -> list[dict[str, Any]]:
    """One costs row per rehearsal run of experiment ``name`` under ``sweep_dir``."""
    configs = _FullConfigs(name, {})
    rows = []
    for summary_path in sorted(Path(sweep_dir).rglob("summary.json")):
        run_dir = summary_path.parent
        summary = json.loads(summary_path.read_text())
        rehearsed = (
            yaml.safe_load((run_dir / "config.yaml").read_text())
            if (run_dir / "config.yaml").is_file()
            else {}
        )
        point = _sweep_overrides(run_dir, cut_keys)
        full = configs.get(point)
        n = int(summary.get("train_examples") or 0)
        sizes = {"train": n, "heldout": int(summary.get("heldout_examples") or 0)}
        work = full_work(full, n, sizes, int(summary.get("params") or 0))
        per_step = summary.get("seconds_per_step")
        timed = int(summary.get("timed_steps") or 0)
        # a run with steps scales its step time by what a step holds (batch, samples); one
        # without scales its whole work (inputs measured, draws) too
        wall = float(summary.get("wall_time_s") or 0.0)
        fixed = max(wall - timed * (per_step or 0.0), 0.0)
        if full["task"]["name"] == "sklearn_baselines":  # its grids, fit by fit
            scale = _baseline_scale(run_dir, full, rehearsed, wall)
        else:
            scale = work_scale(full, rehearsed, rehearsal.STEP_SCALED_KEYS if timed else None)
        rows.append(
            {
                "experiment": name,
                "run": str(run_dir.relative_to(sweep_dir)),
                # the sweep point's overrides (the run's folder is named by its recorded keys)
                "overrides": json.dumps(point),
                "task": full["task"]["name"],
                "status": summary.get("status"),
                "timed_steps": timed,
                "seconds_per_step": per_step,
                "wall_time_s": wall,
                "peak_rss_mb": summary.get("peak_rss_mb"),
                "train_examples": n,
                "work_scale": round(scale, 3),
                "full_steps": work["steps"],
                "full_eval_examples": work["eval_examples"],
                "full_batch": work["batch"],
                "est_full_seconds": round(
                    run_seconds(
                        work["steps"],
                        per_step,
                        fixed,
                        scale,
                        work["eval_examples"],
                        float(work["batch"] or 1),
                    ),
                    1,
                ),
            }
        )
    return rows


def plan_rows(
    costs: list[dict[str, Any]],
    full_runs: Mapping[str, int],
    seconds_per_step: Callable[[dict[str, Any]], float | None] | None = None,
) -> list[dict[str, Any]]:
    """One line per experiment: runs, steps per run, s/step, peak MB, device-hours.

    ``costs``: rows of ``costs.csv``; ``full_runs``: runs of each experiment's full sweep.
    ``seconds_per_step``: another source of seconds per step for a costs row (None: the
    rehearsal's measurement); the estimate of each row is then recomputed with it.
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in costs:
        by_name.setdefault(row["experiment"], []).append(row)
    lines = []
    for name in sorted(full_runs):
        rows = by_name.get(name, [])
        estimates, per_steps = [], []
        for row in rows:
            measured = _number(row.get("seconds_per_step"))
            per_step = seconds_per_step(row) if seconds_per_step else measured
            fixed = max(_number(row["wall_time_s"]) - int(row["timed_steps"]) * (measured or 0), 0)
            estimates.append(
                run_seconds(
                    float(row["full_steps"]),
                    per_step,
                    fixed,
                    float(row["work_scale"]),
                    float(row["full_eval_examples"]),
                    float(row["full_batch"] or 1),
                )
            )
            if per_step is not None:
                per_steps.append(per_step * float(row["work_scale"]))
        mean = statistics.fmean(estimates) if estimates else math.nan
        peaks = [_number(r["peak_rss_mb"]) for r in rows if _number(r["peak_rss_mb"])]
        steps = [float(r["full_steps"]) for r in rows]
        lines.append(
            {
                "experiment": name,
                "runs": full_runs[name],
                "rehearsed": sum(r["status"] in ("completed", "diverged") for r in rows),
                "steps_per_run": round(statistics.fmean(steps)) if steps else 0,
                "seconds_per_step": round(statistics.median(per_steps), 4) if per_steps else None,
                "peak_rss_mb": round(max(peaks)) if peaks else None,
                "device_hours": round(full_runs[name] * mean / 3600, 2),
            }
        )
    return lines


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_plan(lines: list[dict[str, Any]], where: str) -> str:
    """The plan as a Markdown table with the total and the dominant experiment."""
    out = [
        f"Estimated cost of the full profile, one device like {where}:",
        "",
        "| experiment | runs | steps/run | s/step | peak RSS MB | device-hours |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for line in lines:
        per_step = "-" if line["seconds_per_step"] is None else f"{line['seconds_per_step']:.4g}"
        peak = "-" if line["peak_rss_mb"] is None else str(line["peak_rss_mb"])
        hours = line["device_hours"]
        out.append(
            f"| {line['experiment']} | {line['runs']} | {line['steps_per_run']} | {per_step} "
            f"| {peak} | {'not rehearsed' if hours != hours else f'{hours:.2f}'} |"
        )
    known = [line for line in lines if line["device_hours"] == line["device_hours"]]
    total = sum(line["device_hours"] for line in known)
    out += ["", f"Total: {total:.1f} device-hours over {sum(x['runs'] for x in lines)} runs."]
    if known:
        top = max(known, key=lambda x: x["device_hours"])
        share = top["device_hours"] / total if total else 0.0
        out.append(f"Dominant: {top['experiment']} ({top['device_hours']:.1f} h, {share:.0%}).")
    missing = [line["experiment"] for line in lines if line not in known]
    if missing:
        out.append(f"Not rehearsed yet (no estimate): {', '.join(missing)}.")
    return "\n".join(out) + "\n"


def cut_keys(name: str) -> set[str]:
    """The keys the rehearsal sets for experiment ``name`` (not part of its sweep point)."""
    from initlab.compose import compose

    cfg = compose([f"experiment={name}_full", f"profile={rehearsal.PROFILE}"])
    return {o.partition("=")[0] for o in rehearsal.overrides(cfg)}


def write_costs(names: list[str], results_dir: Path) -> Path:
    """``<results_dir>/costs.csv`` from the rehearsal's run directories of ``names``."""
    import pandas as pd

    from initlab.experiments import sweep_dir
    from initlab.tracking import atomic_write_text

    path = Path(results_dir) / "costs.csv"
    old = pd.read_csv(path) if path.is_file() else None
    rows = []
    for name in names:
        rows += run_rows(name, sweep_dir(name, rehearsal.PROFILE), cut_keys(name))
    frame = pd.DataFrame(rows)
    if old is not None and len(old):  # experiments not rehearsed this time keep their rows
        frame = pd.concat([old[~old["experiment"].isin(names)], frame], ignore_index=True)
    frame = frame.sort_values(["experiment", "run"], kind="stable")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def plan_text(results_dir: Path, where: str = "this machine (rehearsal on CPU)") -> str | None:
    """The plan from ``<results_dir>/costs.csv``; None while there is none."""
    import pandas as pd

    from initlab.experiments import discover, sweep_size

    path = Path(results_dir) / "costs.csv"
    if not path.is_file():
        return None
    costs = pd.read_csv(path).to_dict("records")
    runs = {name: sweep_size(name, "full") for name in discover("full")}
    return format_plan(plan_rows(costs, runs), where)

"""The rehearsal profile: what is cut, in one place.

A rehearsal runs each ``<name>_full`` experiment as it is (models, image sizes, data set shapes,
grids' widths and depths) on the files of :mod:`initlab_harness.rehearsal.writers`, with
only the AMOUNT of work per run cut:

- repetition axes of a sweep (``REPEAT_AXES``: seeds, folds) run their first value only;
- each task gets the overrides in ``TASK_OVERRIDES`` (a few optimizer steps, a few Lanczos
  iterations, a few probes, evaluation on a few examples), each initializer those in
  ``INIT_OVERRIDES`` (PDI: a few steps per stage);
- a grid search trains one member per variant: the largest (the biggest width and depth of its
  grid, the first value of every other axis), so its memory peak is the grid's;
- the classical baselines fit the first point of each method's grid, with few trees/iterations.

Everything else is the full profile's: the same configs, loaders, ``reproduce.py``, collect
step and report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from initlab.analysis.grid import flatten
from initlab.compose import CONF_DIR

PROFILE = "rehearsal"
DATA_ENV = "INITLAB_REHEARSAL_DATA"  # where the rehearsal's files live (default data/rehearsal)
#: sweep axes that repeat a run (seeds, folds) or change a value but no shape and no cost per
#: step (learning rates): the rehearsal runs their first value
REPEAT_AXES = ("seed", "data.fold", "optim.lr")
#: grid axes whose largest value is kept (the biggest member); other axes keep their first value
SIZE_AXES = ("model.width", "model.depth")
STEPS = 3  # optimizer steps / operator applications per run
EVAL = 64  # examples per split scored
VAE_STEPS = 1  # the 162-layer VAE at 1024 x 1024 (~1 min per step here): steps per stage
ANGLE_INPUTS = 2  # examples (and measuring batch) of an angles run
CURVATURE = 2  # examples per Hessian/Fisher-vector product
#: sweeps larger than this run a covering set instead of their product: every value of every
#: axis at least once (value i of each axis in run i, cycling), e.g. E4's 121 sets x 7 variants
COVER_ABOVE = 200

TASK_OVERRIDES: dict[str, list[str]] = {
    "train": [f"task.max_steps={STEPS}", f"task.eval_examples={EVAL}"],
    # the 162-layer VAE at 1024 x 1024 (bf16 autocast, ~1 min per step of two images on this
    # CPU); its batches are one micro-batch piece (see overrides)
    "train_vae": [
        f"task.max_steps={VAE_STEPS}",
        "task.log_every=1",  # D2's claim reads train_batch_loss: log the step it takes
        "task.eval_examples=1",
        "task.grid_examples=2",
    ],
    # angles: one draw, a few inputs per forward (a 100-block 64-channel conv ResNet costs ~15
    # GFLOP per 32x32 image); the plan scales by the inputs of the full run
    "angles": [
        "task.seeds=1",
        "task.max_steps=1",  # B5 trains the 100-block conv ResNet: ~1 min per step of 64 here
        f"task.eval_examples={ANGLE_INPUTS}",
        f"task.examples={ANGLE_INPUTS}",
        f"task.measure_batch_size={ANGLE_INPUTS}",
        "task.cosines=[0.5]",  # one synthetic pair: features are float64 (slow CPU convs)
        "task.pairs_per_cosine=1",
        f"task.data_pairs={ANGLE_INPUTS // 2}",
    ],
    # curvature: a few operator applications on one small chunk (seconds per application
    # scale with the examples per application: the plan multiplies by samples / CURVATURE)
    "hessian": ["task.max_iter=2", f"task.samples={CURVATURE}", f"task.chunk_size={CURVATURE}"],
    # lr_search: one probe of one full-batch step (C2's 64-block net on 1,024 images is ~75 s
    # per step here; the meter times a loop of one step); without lambda_max (task.sharpness:
    # even one Lanczos step, a double-backward graph over the 1,024 images, costs ~3 such steps;
    # the plan counts its sharpness_max_iter + 1 products; A1's rehearsal runs the same product)
    "lr_search": ["task.steps=1", "task.max_probes=1", "task.sharpness=false"],
    "grid_search": [
        "task.epochs=1",
        "task.smoothing=1",
        f"task.steps_per_epoch={STEPS}",
        f"task.eval_examples={EVAL}",
    ],
    "sklearn_baselines": [],  # grids cut by _baseline_grid_overrides
    "activation_stats": [],  # one forward pass: nothing to cut
    # the dense Hessian: its first rows only (one Hessian-vector product each) over the full
    # sample in one chunk, so the graph and memory are the paper's; the plan counts every row
    "hessian_structure": [f"task.rows={STEPS}"],
    "selu_theory": [],  # closed-form grids, no training: nothing to cut
}
INIT_OVERRIDES: dict[str, list[str]] = {"pdi": [f"init.duration=[{STEPS}]"]}
#: overrides of an initializer under a task, where the task's cut differs (the VAE's PDI stages)
TASK_INIT_OVERRIDES: dict[tuple[str, str], list[str]] = {
    ("train_vae", "pdi"): [f"init.duration=[{VAE_STEPS}]"]
}
#: tasks whose steps a full config may split into ``task.micro_batch`` pieces: the rehearsal
#: trains on batches of one piece (the memory of the full run, the time scaled by the batch)
MICRO_BATCH_TASKS = ("train", "train_vae", "angles")
#: keys a cut makes smaller per step or per run: the plan multiplies the measured time by
#: (full value / rehearsal value) of each (work is linear in them)
SCALED_KEYS = (
    "task.batch_size",
    "task.samples",
    "task.examples",
    "task.seeds",
)
#: of those, the keys that change the time of one optimizer step (the others change how many
#: inputs are measured or draws made, costed in a run without steps)
STEP_SCALED_KEYS = ("task.batch_size", "task.samples")
#: baselines: the first grid point of each method, and these work counts
BASELINE_WORK = {"n_estimators": 10, "max_iter": 10}


def data_root() -> Path:
    return Path(os.environ.get(DATA_ENV, CONF_DIR.parent / "data" / "rehearsal"))


def _pick(axis: str, values: list) -> Any:
    if axis.split(".", 1)[-1] in SIZE_AXES or axis in SIZE_AXES:
        return max(values)
    return values[0]


def _grid_overrides(task: dict[str, Any]) -> list[str]:
    """One member per variant: the largest (see the module docstring)."""
    out = []
    for axis, values in flatten(task.get("grid", {}), "grid").items():
        if isinstance(values, list) and values:
            out.append(f"task.{axis}=[{_pick(axis.removeprefix('grid.'), values)}]")
    for axis, values in flatten(task.get("method_grids", {}), "method_grids").items():
        if isinstance(values, list) and values:
            short = axis.split(".", 2)[-1]  # method_grids.<variant>.model.depth -> model.depth
            out.append(f"task.{axis}=[{_pick(short, values)}]")
    return out


def _baseline_grid_overrides(task: dict[str, Any]) -> list[str]:
    out = []
    for axis, values in flatten(task.get("grids", {}), "grids").items():
        if isinstance(values, list) and values:
            key = axis.rsplit(".", 1)[-1]
            value = BASELINE_WORK.get(key, values[0])
            out.append(f"task.{axis}=[{value}]")
    return out


def overrides(cfg: dict[str, Any]) -> list[str]:
    """The rehearsal's overrides for one composed experiment config (its task and init)."""
    task_name = cfg["task"]["name"]
    if task_name not in TASK_OVERRIDES:
        raise KeyError(f"task {task_name!r} has no rehearsal overrides; add it to TASK_OVERRIDES")
    out = list(TASK_OVERRIDES[task_name])
    micro = cfg["task"].get("micro_batch")
    if micro and task_name in MICRO_BATCH_TASKS:  # one piece per step: the piece's memory
        out.append(f"task.batch_size={micro}")
    init_name = cfg["init"]["name"]
    out += TASK_INIT_OVERRIDES.get((task_name, init_name), INIT_OVERRIDES.get(init_name, []))
    if task_name == "grid_search":
        out += _grid_overrides(cfg["task"])
    if task_name == "sklearn_baselines":
        out += _baseline_grid_overrides(cfg["task"])
    if task_name == "hessian":  # the spectrum's probes (a1_hessian_spectrum): two of each
        if cfg["task"].get("trace_probes"):
            out.append("task.trace_probes=2")
        if cfg["task"].get("slq_probes"):
            out += ["task.slq_probes=1", "task.slq_steps=2"]
    return out


def sweep_overrides(params: dict[str, list[str]]) -> list[str]:
    """Repetition axes at their first value (a command-line value replaces the sweep's list)."""
    return [f"{key}={params[key][0]}" for key in params if key.lstrip("+") in REPEAT_AXES]


def sweep_choices(params: dict[str, list[str]]) -> dict[str, list[str]]:
    """The sweep's params as the rehearsal runs them (before any covering)."""
    return {k: v[:1] if k.lstrip("+") in REPEAT_AXES else v for k, v in params.items()}


def sweep_segments(params: dict[str, list[str]]) -> list[list[str]]:
    """The rehearsal's sweep as command-line segments, one Hydra multirun each.

    Up to ``COVER_ABOVE`` points: one segment, the repetition axes at their first value.
    Above: a covering set (every value of every axis appears), grouped by the longest axis's
    partner values so each segment is an ordinary multirun.
    """
    choices = sweep_choices(params)
    size = 1
    for values in choices.values():
        size *= len(values)
    if size <= COVER_ABOVE:
        return [sweep_overrides(params)]
    longest = max(choices, key=lambda k: len(choices[k]))
    n = len(choices[longest])
    groups: dict[tuple[str, ...], list[str]] = {}
    for i in range(n):
        key = tuple(f"{k}={v[i % len(v)]}" for k, v in choices.items() if k != longest)
        groups.setdefault(key, []).append(choices[longest][i])
    return [[*key, f"{longest}={','.join(vals)}"] for key, vals in groups.items()]


def sweep_runs(params: dict[str, list[str]]) -> int:
    """Runs of the rehearsal's sweep."""
    choices = sweep_choices(params)
    size = 1
    for values in choices.values():
        size *= len(values)
    return size if size <= COVER_ABOVE else max(len(v) for v in choices.values())
